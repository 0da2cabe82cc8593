// IndexedDB: the session, the patients opened this shift, and the outbox of administrations not yet sent.
// Everything here is wiped by `wipeDevice()` at sign-out and when the retention time runs out.

const DB_NAME = "pml-mobile";
const DB_VERSION = 1;
export const SHELL_CACHE_PREFIX = "pml-shell-";
let opening = null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        db.createObjectStore("session");
        db.createObjectStore("patients", { keyPath: "patient_id" });
        db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
      };
      req.onsuccess = () => {
        const db = req.result;
        db.onversionchange = () => { db.close(); opening = null; }; // another tab is wiping the device
        resolve(db);
      };
      req.onerror = () => { opening = null; reject(req.error); };
    });
  }
  return opening;
}

async function run(storeName, mode, operation) {
  const db = await open();
  const transaction = db.transaction(storeName, mode);
  const result = request(operation(transaction.objectStore(storeName)));
  await new Promise((resolve, reject) => {
    transaction.oncomplete = resolve;
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
  return result;
}

export const store = {
  get: (storeName, key) => run(storeName, "readonly", (s) => s.get(key)),
  all: (storeName) => run(storeName, "readonly", (s) => s.getAll()),
  put: (storeName, value, key) => run(storeName, "readwrite", (s) => (key === undefined ? s.put(value) : s.put(value, key))),
  delete: (storeName, key) => run(storeName, "readwrite", (s) => s.delete(key)),
};

// Removes every trace of patient data: the whole database, every cache entry that is not the app shell
// (patient data is never put in a cache, but a wipe must not rely on that), and session storage.
export async function wipeDevice() {
  if (opening) {
    const db = await opening.catch(() => null);
    db?.close();
    opening = null;
  }
  await new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(DB_NAME);
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
  });
  await wipeCaches();
  sessionStorage.clear();
}

async function wipeCaches() {
  if (!("caches" in self)) return;
  for (const name of await caches.keys()) {
    if (!name.startsWith(SHELL_CACHE_PREFIX)) {
      await caches.delete(name);
      continue;
    }
    const cache = await caches.open(name);
    for (const cached of await cache.keys()) {
      if (!new URL(cached.url).pathname.startsWith("/app/")) await cache.delete(cached);
    }
  }
}
