// The service worker keeps the app shell, so the client starts without a network. It never touches /v1: patient
// data is not cached here (it lives in IndexedDB, which sign-out wipes). The server fills in SHELL_VERSION with a
// hash of every file of the client, so any change installs a fresh shell.

const SHELL_VERSION = "__SHELL_VERSION__";
const CACHE = `pml-shell-${SHELL_VERSION}`;
const SHELL = [
  "./",
  "index.html",
  "styles.css",
  "manifest.webmanifest",
  "config.json",
  "js/api.js",
  "js/app.js",
  "js/auth.js",
  "js/dom.js",
  "js/format.js",
  "js/outbox.js",
  "js/patient.js",
  "js/pkce.js",
  "js/store.js",
  "js/views.js",
  "icons/icon.svg",
  "icons/icon-192.png",
  "icons/icon-512.png",
  "icons/icon-maskable-512.png",
];
const scope = new URL(self.registration.scope);

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("pml-shell-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) {
    return; // the API and everything else: straight to the network, never cached
  }
  if (url.pathname === `${scope.pathname}config.json`) {
    event.respondWith(networkFirst(event.request));
  } else if (event.request.mode === "navigate") {
    // The OAuth redirect comes back as /app/?code=…: the shell answers it whatever the query.
    event.respondWith(networkFirst(new Request(scope.href)));
  } else {
    event.respondWith(cacheFirst(event.request));
  }
});

async function cacheFirst(request) {
  return (await caches.match(request, { cacheName: CACHE })) ?? fetch(request);
}

async function networkFirst(request) {
  try {
    const response = await fetch(request, { cache: "no-cache" });
    if (response.ok) await (await caches.open(CACHE)).put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await caches.match(request, { cacheName: CACHE });
    if (cached) return cached;
    throw error;
  }
}
