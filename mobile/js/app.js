// PML Hjemmetjeneste: sign-in, find a patient, the patient's doses, one-tap records, offline queue.
// Patient ids are never put in the address bar or history: the browser would keep them after sign-out.

import { Api, AuthError, OfflineError } from "./api.js";
import { completeOAuthSignIn, currentSession, signInWithToken, startOAuthSignIn } from "./auth.js";
import { announce, byId, openDialog, showScreen } from "./dom.js";
import { OUTCOME_TEXT, time } from "./format.js";
import { Outbox } from "./outbox.js";
import { endVisit, keptPatients, loadPatient } from "./patient.js";
import { wipeDevice } from "./store.js";
import { renderPatient, renderRecent } from "./views.js";

const RETENTION_CHECK_MS = 30_000;
const RETENTION_WARNING_MS = 30 * 60_000;
const state = {
  config: null, session: null, api: null, outbox: null, patient: null, offline: false, refreshTimer: null,
  focusAfterRender: null,
};

async function main() {
  registerServiceWorker();
  state.config = await (await fetch("config.json", { cache: "no-cache" })).json();
  state.api = new Api(state.config.api_base, () => state.session?.token ?? "");
  state.outbox = new Outbox(state.api);
  wireEvents();
  updateConnection();
  try {
    state.session = (await completeOAuthSignIn(state.config)) ?? (await currentSession());
  } catch (error) {
    showSignIn(`Innloggingen mislyktes: ${error.message}`);
    return;
  }
  if (await wipeIfRetentionPassed()) return;
  if (!state.session) return showSignIn();
  if (state.session.expires_at <= Date.now()) return showSignIn("Økten er utløpt. Logg inn igjen – det som venter på sending, beholdes.");
  await signedIn();
}

function registerServiceWorker() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js", { scope: "./" }).catch((error) => console.warn("service worker", error));
  }
}

// -- sign-in and sign-out -------------------------------------------------------------------------------------

function showSignIn(notice) {
  const { auth, development_tokens: developmentTokens } = state.config;
  byId("signin-oauth").hidden = auth.mode !== "oauth";
  byId("signin-dev").hidden = auth.mode === "oauth" || !developmentTokens;
  byId("signin-unconfigured").hidden = auth.mode === "oauth" || developmentTokens;
  byId("signin-notice").hidden = !notice;
  byId("signin-notice").textContent = notice ?? "";
  byId("sign-out").hidden = true;
  byId("user-name").hidden = true;
  showScreen("screen-signin");
}

async function signedIn() {
  byId("user-name").textContent = state.session.name;
  byId("user-name").hidden = false;
  byId("sign-out").hidden = false;
  await showFind();
  await updateOutboxSummary();
  state.outbox.flush();
}

async function onDevSignIn(event) {
  event.preventDefault();
  try {
    state.session = await signInWithToken(byId("dev-token").value, state.config);
    byId("dev-token").value = "";
    await signedIn();
  } catch (error) {
    showSignIn(`Kunne ikke logge inn: ${error.message}`);
  }
}

async function onSignOut() {
  const waiting = (await state.outbox.items()).filter((item) => ["pending", "sending"].includes(item.state));
  if (waiting.length) {
    byId("sign-out-warning").textContent = `${waiting.length} registrering(er) er ikke sendt ennå. `
      + "Logger du ut nå, slettes de fra telefonen og må dokumenteres på annen måte.";
    if ((await openDialog(byId("dialog-sign-out"))) !== "confirm") return;
  }
  await wipe("Du er logget ut. Alle pasientdata er slettet fra telefonen.");
}

async function wipe(notice) {
  clearTimeout(state.outbox.timer);
  await wipeDevice();
  Object.assign(state, { session: null, patient: null, offline: false });
  await updateOutboxSummary();
  showSignIn(notice);
}

// Patient data may stay on the phone for one shift only (PML_MOBILE_DATA_RETENTION_HOURS from sign-in).
async function wipeIfRetentionPassed() {
  if (!state.session) return false;
  const left = state.session.wipe_at - Date.now();
  if (left > 0) {
    if (left < RETENTION_WARNING_MS) byId("connection").textContent += ` · Pasientdata slettes kl. ${time(new Date(state.session.wipe_at).toISOString(), state.config.time_zone)}`;
    return false;
  }
  const unsent = (await state.outbox.items().catch(() => [])).filter((item) => ["pending", "sending"].includes(item.state)).length;
  await wipe(`Vakten er over: pasientdata er slettet fra telefonen etter ${state.config.retention_hours} timer.`
    + (unsent ? ` ${unsent} registrering(er) var ikke sendt og må dokumenteres på annen måte.` : ""));
  return true;
}

// -- finding and opening a patient ----------------------------------------------------------------------------

async function showFind() {
  state.patient = null;
  renderRecent(await keptPatients(), openPatient, state.config.time_zone);
  showScreen("screen-find");
}

async function onFind(event) {
  event.preventDefault();
  const id = byId("national-id").value.replace(/\s/g, "");
  const error = byId("find-error");
  if (!/^\d{11}$/.test(id)) {
    error.textContent = "Skriv inn 11 siffer.";
    byId("national-id").setAttribute("aria-invalid", "true");
    byId("national-id").focus();
    return;
  }
  error.textContent = "";
  byId("national-id").removeAttribute("aria-invalid");
  await openPatient(id);
}

async function openPatient(patientId, { keepFocus = false } = {}) {
  try {
    const { patient, offline } = await loadPatient(state.api, patientId, state.config.time_zone);
    Object.assign(state, { patient, offline });
    await render();
    if (!keepFocus) showScreen("screen-patient");
    byId("national-id").value = "";
  } catch (error) {
    handleOpenError(error);
  }
}

function handleOpenError(error) {
  if (error instanceof AuthError) return showSignIn("Økten er utløpt. Logg inn igjen.");
  const messages = {
    403: "Du har ikke tilgang til denne pasientens legemiddelliste.",
    422: "Dette er ikke et gyldig fødselsnummer eller D-nummer.",
  };
  const message = error instanceof OfflineError
    ? "Du er frakoblet, og pasienten er ikke lagret på telefonen."
    : messages[error.status] ?? `Pasienten kunne ikke hentes: ${error.message}`;
  if (state.patient) return announce(message);
  byId("find-error").textContent = message;
  showScreen("screen-find");
}

async function render() {
  if (!state.patient) return;
  const items = await state.outbox.items(state.patient.patient_id);
  // Re-rendering replaces the cards: keep keyboard focus on the same control (or on the new status).
  const keep = state.focusAfterRender ?? focusedSelector();
  renderPatient(state.patient, items, {
    zone: state.config.time_zone, offline: state.offline,
    onGiven, onPartly, onNotGiven, onAsNeeded, onCorrect,
  });
  const target = keep && document.querySelector(keep);
  if (target) {
    target.focus();
    state.focusAfterRender = null;
  }
}

function focusedSelector() {
  const active = document.activeElement;
  const card = active?.closest?.("article[data-entry]");
  if (!card) return null;
  const scheduled = card.dataset.scheduled ? `[data-scheduled="${card.dataset.scheduled}"]` : "";
  const cardSelector = `article.${card.classList[1]}[data-entry="${card.dataset.entry}"]${scheduled}`;
  if (active.classList.contains("status")) return `${cardSelector} .status`;
  const label = active.getAttribute("aria-label");
  return label ? `${cardSelector} [aria-label="${CSS.escape(label)}"]` : null;
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => {
    if (state.patient && navigator.onLine) openPatient(state.patient.patient_id, { keepFocus: true });
  }, 300);
}

async function onBack() {
  if (state.patient) await endVisit(state.patient.patient_id);
  await showFind();
}

// -- recording ------------------------------------------------------------------------------------------------

async function record(due, outcome, extra = {}) {
  const patient = state.patient;
  const body = {
    entry_id: due.entry_id, scheduled_at: due.scheduled_at ?? undefined, outcome,
    occurred_at: new Date().toISOString(), list_version: patient.list.version, ...extra,
  };
  // The tapped buttons give way to the record's status; keyboard focus follows there instead of to the page.
  state.focusAfterRender = due.scheduled_at ? `article.dose[data-entry="${due.entry_id}"][data-scheduled="${due.scheduled_at}"] .status` : null;
  await state.outbox.add(patient.patient_id, body, { name: due.display_name, unit: due.unit });
  announce(`${due.display_name}: ${OUTCOME_TEXT[outcome].toLowerCase()} registrert${navigator.onLine ? "" : ", venter på nett"}.`);
}

function onGiven(due) {
  return record(due, "given", { amount: due.amount, unit: due.unit ?? undefined });
}

function onAsNeeded(medicine) {
  return record(medicine, "given", { amount: medicine.amount, unit: medicine.unit ?? undefined });
}

async function onPartly(due) {
  const form = byId("partly-form");
  form.reset();
  byId("partly-medicine").textContent = `${due.display_name} kl. ${due.local_time}`;
  byId("partly-unit").textContent = `Planlagt: ${due.amount} ${due.unit ?? ""}`;
  if ((await openDialog(byId("dialog-partly"))) !== "save") return;
  const amount = Number(form.amount.value.replace(",", "."));
  if (!(amount > 0)) return announce("Mengden må være et tall større enn null. Ingenting er registrert.");
  await record(due, "partly_given", { amount: String(amount), unit: due.unit ?? undefined, note: form.note.value.trim() || undefined });
}

async function onNotGiven(due) {
  const form = byId("not-given-form");
  form.reset();
  byId("not-given-medicine").textContent = `${due.display_name}${due.local_time ? ` kl. ${due.local_time}` : ""}`;
  if ((await openDialog(byId("dialog-not-given"))) !== "save") return;
  await record(due, "not_given", { reason: form.reason.value, note: form.note.value.trim() || undefined });
}

async function onCorrect(row) {
  const form = byId("correct-form");
  form.reset();
  byId("correct-error").textContent = "";
  byId("correct-medicine").textContent = `${row.name}: registrert som ${OUTCOME_TEXT[row.outcome].toLowerCase()}`;
  if ((await openDialog(byId("dialog-correct"))) !== "save") return;
  const outcome = form.outcome.value;
  const reason = form.reason.value;
  if (outcome === "not_given" && !reason) {
    announce("Velg en årsak når dosen ikke ble gitt. Ingenting er registrert.");
    return;
  }
  const body = {
    entry_id: row.entry_id, scheduled_at: row.scheduled_at ?? undefined, outcome,
    reason: outcome === "not_given" ? reason : undefined, note: form.note.value.trim() || undefined,
    occurred_at: row.at, list_version: state.patient.list.version, corrects: row.record_id,
  };
  await state.outbox.add(state.patient.patient_id, body, { name: row.name, unit: row.unit });
  announce(`Korrigering av ${row.name} registrert.`);
}

// -- connectivity and the outbox ------------------------------------------------------------------------------

function updateConnection() {
  byId("connection").textContent = navigator.onLine ? "Tilkoblet" : "Frakoblet";
}

async function updateOutboxSummary() {
  const counts = state.session ? await state.outbox.counts() : {};
  const parts = [];
  if (counts.pending || counts.sending) parts.push(`${counts.pending + counts.sending} venter`);
  if (counts.flagged) parts.push(`${counts.flagged} til vurdering`);
  if (counts.refused) parts.push(`${counts.refused} avvist`);
  byId("outbox-summary").textContent = parts.join(" · ");
}

function wireEvents() {
  byId("signin-dev").addEventListener("submit", onDevSignIn);
  byId("oauth-sign-in").addEventListener("click", () => startOAuthSignIn(state.config).catch((e) => showSignIn(e.message)));
  byId("find-form").addEventListener("submit", onFind);
  byId("back-to-find").addEventListener("click", onBack);
  byId("refresh-patient").addEventListener("click", () => state.patient && openPatient(state.patient.patient_id, { keepFocus: true }));
  byId("sign-out").addEventListener("click", onSignOut);
  window.addEventListener("online", () => { updateConnection(); state.outbox.flush().then(scheduleRefresh); });
  window.addEventListener("offline", updateConnection);
  state.outbox.addEventListener("change", () => { updateOutboxSummary(); render(); });
  state.outbox.addEventListener("sent", scheduleRefresh);
  state.outbox.addEventListener("unauthorized", () => showSignIn("Økten er utløpt. Logg inn igjen – det som venter på sending, beholdes."));
  setInterval(() => { updateConnection(); wipeIfRetentionPassed(); }, RETENTION_CHECK_MS);
}

main().catch((error) => {
  byId("screen-loading").textContent = `Appen kunne ikke starte: ${error.message}`;
});
