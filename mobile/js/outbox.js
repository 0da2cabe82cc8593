// The outbox: every administration is queued here first (IndexedDB), with its Idempotency-Key, and sent in the
// order it was recorded. A replay after a lost answer reuses the key, so the server never makes a second record.
//
// States the nurse always sees: pending (waiting for the network), sending, sent, flagged (stored, but a
// clinician must look at it), refused (the service said no, with why). Nothing is ever dropped silently.

import { AuthError, isRetryable } from "./api.js";
import { store } from "./store.js";

const RETRY_MS = 15_000;

export class Outbox extends EventTarget {
  constructor(api) {
    super();
    this.api = api;
    this.flushing = null;
    this.timer = null;
  }

  async add(patientId, body, label) {
    const item = {
      key: crypto.randomUUID(), patient_id: patientId, body, label, state: "pending", created_at: new Date().toISOString(),
    };
    item.seq = await store.put("outbox", item);
    this.changed();
    this.flush();
    return item;
  }

  async items(patientId) {
    const all = (await store.all("outbox")).sort((a, b) => a.seq - b.seq);
    return patientId ? all.filter((item) => item.patient_id === patientId) : all;
  }

  async counts() {
    const counts = { pending: 0, sending: 0, sent: 0, flagged: 0, refused: 0 };
    for (const item of await this.items()) counts[item.state] += 1;
    return counts;
  }

  // One flush at a time; a call during a flush runs again after it, so nothing queued meanwhile waits long.
  flush() {
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = this.sendAll().finally(() => {
      this.flushing = null;
      if (this.again) {
        this.again = false;
        this.flush();
      }
    });
    return this.flushing;
  }

  async sendAll() {
    clearTimeout(this.timer);
    for (const item of await this.items()) {
      if (item.state !== "pending" && item.state !== "sending") continue;
      if (!navigator.onLine || !(await this.send(item))) {
        this.timer = setTimeout(() => this.flush(), RETRY_MS);
        return;
      }
    }
  }

  // True when the item is settled (sent, flagged or refused); false when it must wait and keep its place.
  async send(item) {
    await this.save(item, { state: "sending" });
    try {
      const record = await this.api.record(item.patient_id, item.body, item.key);
      await this.save(item, { state: record.flagged_for_review ? "flagged" : "sent", record, sent_at: new Date().toISOString() });
      this.dispatchEvent(new CustomEvent("sent", { detail: item }));
      return true;
    } catch (error) {
      if (error instanceof AuthError) this.dispatchEvent(new Event("unauthorized"));
      if (isRetryable(error)) {
        await this.save(item, { state: "pending" });
        return false;
      }
      await this.save(item, { state: "refused", problem: { status: error.status, title: error.problem?.title, detail: error.message } });
      return true;
    }
  }

  async save(item, changes) {
    Object.assign(item, changes);
    await store.put("outbox", item);
    this.changed();
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }
}
