// Rendering the patient screen from the kept patient and the outbox. No state lives here.

import { byId, h, replace } from "./dom.js";
import {
  ACTION_TEXT, DST_TEXT, OUTCOME_TEXT, REASON_TEXT, REVIEW_TEXT, TIME_OF_DAY_TEXT,
  actorName, dateTime, dose, localMinutes, nationalId, time,
} from "./format.js";
import { changedEntryIds } from "./patient.js";

const ROUNDS = ["morning", "midday", "evening", "night"];
const GIVING = new Set(["given", "partly_given"]);
const STATE_TEXT = {
  pending: "Venter på nett – sendes automatisk",
  sending: "Sendes …",
  sent: "Sendt",
  flagged: "Sendt – må vurderes av lege eller sykepleier",
  refused: "Avvist av tjenesten",
};

// -- today's records: what the service holds, plus what is still in (or just left) the outbox ---------------

export function recordRows(patient, items) {
  const serverIds = new Set(patient.records.chains.flatMap((chain) => chain.records.map((r) => r.record_id)));
  const rows = patient.records.chains.map((chain) => ({
    key: chain.effective.record_id,
    entry_id: chain.effective.entry_id,
    scheduled_at: chain.effective.scheduled_at,
    outcome: chain.effective.outcome,
    reason: chain.effective.reason,
    amount: chain.effective.amount,
    unit: chain.effective.unit,
    at: chain.effective.occurred_at,
    name: chain.effective.entry.display_name,
    by: actorName(chain.effective.recorded_by),
    state: chain.effective.flagged_for_review ? "flagged" : "sent",
    review: chain.effective.review_reasons,
    record_id: chain.effective.record_id,
    history: chain.corrected ? chain.records.slice(0, -1) : [],
  }));
  for (const item of items) {
    if (item.record && serverIds.has(item.record.record_id)) continue;
    rows.push({
      key: `local-${item.seq}`,
      entry_id: item.body.entry_id,
      scheduled_at: item.body.scheduled_at ?? null,
      outcome: item.body.outcome,
      reason: item.body.reason,
      amount: item.body.amount,
      unit: item.body.unit ?? item.label.unit,
      at: item.body.occurred_at,
      name: item.label.name,
      by: "deg",
      state: item.state,
      review: item.record?.review_reasons ?? [],
      problem: item.problem,
      record_id: item.record?.record_id,
      history: [],
    });
  }
  return rows;
}

function rowFor(rows, entryId, scheduledAt) {
  const at = Date.parse(scheduledAt);
  return rows.filter((row) => row.entry_id === entryId && row.scheduled_at && Date.parse(row.scheduled_at) === at).at(-1);
}

// -- the screen -----------------------------------------------------------------------------------------------

export function renderPatient(patient, items, context) {
  const rows = recordRows(patient, items);
  const changed = changedEntryIds(patient);
  byId("patient-title").textContent = `Pasient ${nationalId(patient.patient_id)}`;
  renderOffline(patient, context);
  renderReviewed(patient, context.zone);
  renderChanges(patient, context.zone);
  renderInteractions(patient.interactions);
  renderDoses(patient, rows, changed, context);
  renderAsNeeded(patient, rows, context);
  renderRecords(rows, context);
  renderEntries(patient, changed);
}

function renderOffline(patient, { offline, zone }) {
  const notice = byId("patient-offline");
  notice.hidden = !offline;
  notice.textContent = offline
    ? `Frakoblet: viser kopien fra ${dateTime(patient.fetched_at, zone)}. Registreringer sendes når nettet er tilbake.`
    : "";
}

function renderReviewed(patient, zone) {
  const reviewed = patient.list.reviewed;
  const marker = byId("reviewed-marker");
  marker.className = reviewed ? "info" : "notice";
  marker.textContent = reviewed
    ? `Ajourført ${dateTime(reviewed.at, zone)} av ${actorName(reviewed.by)} (versjon ${reviewed.version}). Listen er nå versjon ${patient.list.version}.`
    : `Listen er ikke ajourført av lege. Versjon ${patient.list.version}.`;
}

function renderChanges(patient, zone) {
  byId("changes-section").hidden = patient.changes.length === 0;
  replace(byId("changes-list"), patient.changes.map((change) => {
    const entry = change.after ?? change.before;
    return h("li", {},
      h("strong", {}, ACTION_TEXT[change.action] ?? change.action),
      entry ? `: ${entry.display_name}` : "",
      h("span", { class: "meta" }, ` – ${actorName(change.actor)}, ${dateTime(change.recorded_at, zone)}`),
      change.reason ? h("span", { class: "meta" }, ` (${change.reason})`) : "");
  }));
}

function renderInteractions(result) {
  const container = byId("interactions");
  if (!result || result.unavailable) {
    replace(container, h("p", { class: "notice" }, "Interaksjonskontroll er ikke tilgjengelig nå. ",
      "Det betyr ikke at det ikke finnes interaksjoner.", result?.detail ? ` (${result.detail})` : ""));
    return;
  }
  const alerts = result.findings.filter((finding) => finding.relevans === 1 || finding.relevans === 2);
  if (!alerts.length) {
    replace(container, h("p", { class: "muted" }, `Ingen interaksjoner å varsle om (FEST ${result.hentet_dato}).`));
    return;
  }
  // The warning and its consequence always show; the (often long) handling text opens with one tap.
  replace(container, alerts.map((finding) => h("article", { class: `card warning relevans-${finding.relevans}` },
    h("p", { class: "title" }, `${finding.relevans_text}: ${finding.first.label} + ${finding.second.label}`),
    h("p", {}, finding.clinical_consequence),
    finding.handling ? h("details", { class: "handling" }, h("summary", {}, "Håndtering"), h("p", {}, finding.handling)) : "")));
}

function currentRound(namedTimes, minutesNow) {
  const minutes = (value) => Number(value.slice(0, 2)) * 60 + Number(value.slice(3, 5));
  const distance = (round) => {
    const after = (minutesNow - minutes(namedTimes[round]) + 1440) % 1440;
    return [Math.min(after, 1440 - after), after <= 720 ? 0 : 1];
  };
  return ROUNDS.reduce((best, round) => {
    const [a, b] = [distance(round), distance(best)];
    return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]) ? round : best;
  });
}

function renderDoses(patient, rows, changed, context) {
  const { plan } = patient;
  const now = currentRound(plan.named_times, localMinutes(context.zone));
  const groups = ROUNDS.map((round) => ({ round, doses: plan.doses.filter((d) => d.time_of_day === round) }))
    .filter((group) => group.doses.length);
  if (!groups.length) {
    replace(byId("doses"), h("p", { class: "muted" }, "Ingen planlagte doser i dag."));
    return;
  }
  replace(byId("doses"), groups.map(({ round, doses }) => h("section", {
    class: `group${round === now ? " current" : ""}`, "aria-label": TIME_OF_DAY_TEXT[round],
  },
  h("h3", {}, round === now ? h("span", { class: "badge now" }, "Nå") : "", TIME_OF_DAY_TEXT[round]),
  doses.map((d) => doseCard(d, rowFor(rows, d.entry_id, d.scheduled_at), changed.has(d.entry_id), context)))));
}

function doseCard(due, row, changed, context) {
  const label = `${due.display_name} kl. ${due.local_time}`;
  return h("article", { class: `card dose${changed ? " changed" : ""}`, "data-entry": due.entry_id, "data-scheduled": due.scheduled_at },
    h("p", { class: "title" }, changed ? h("span", { class: "badge changed" }, "Endret siden forrige besøk") : "",
      `${due.local_time} ${due.display_name}`),
    h("p", {}, `Dose: ${dose(due.amount, due.unit)}`),
    due.dose_text ? h("p", { class: "meta" }, due.dose_text) : "",
    due.dst_adjustment ? h("p", { class: "notice" }, DST_TEXT[due.dst_adjustment]) : "",
    row ? rowStatus(row, context) : "",
    !row || row.state === "refused" ? h("div", { class: "actions" },
      h("button", { type: "button", class: "button primary", "aria-label": `Gitt: ${label}`, onclick: () => context.onGiven(due) }, "Gitt"),
      h("button", { type: "button", class: "button secondary", "aria-label": `Delvis gitt: ${label}`, onclick: () => context.onPartly(due) }, "Delvis"),
      h("button", { type: "button", class: "button secondary", "aria-label": `Ikke gitt: ${label}`, onclick: () => context.onNotGiven(due) }, "Ikke gitt"))
      : "");
}

function outcomeText(row) {
  let text = OUTCOME_TEXT[row.outcome] ?? row.outcome;
  if (row.outcome === "partly_given" && row.amount) text += ` (${dose(row.amount, row.unit)})`;
  if (row.reason) text += `: ${REASON_TEXT[row.reason] ?? row.reason}`;
  return text;
}

function rowStatus(row, context) {
  const correctable = row.record_id && (row.state === "sent" || row.state === "flagged");
  return h("div", { class: "record-status" },
    h("p", {}, `${outcomeText(row)} – ${time(row.at, context.zone)} av ${row.by}`),
    h("p", { class: `status ${row.state}`, "data-state": row.state, tabindex: "-1" }, STATE_TEXT[row.state]),
    row.review.length ? h("p", { class: "meta" }, `Til vurdering: ${row.review.map((r) => REVIEW_TEXT[r] ?? r).join("; ")}`) : "",
    row.problem ? h("p", { class: "meta" }, `Begrunnelse: ${row.problem.detail ?? row.problem.title}`) : "",
    correctable ? h("button", { type: "button", class: "button secondary", "aria-label": `Korriger: ${row.name}`, onclick: () => context.onCorrect(row) }, "Korriger") : "");
}

function renderAsNeeded(patient, rows, context) {
  const medicines = patient.plan.as_needed;
  if (!medicines.length) {
    replace(byId("as-needed"), h("p", { class: "muted" }, "Ingen legemidler ved behov."));
    return;
  }
  replace(byId("as-needed"), medicines.map((medicine) => {
    const given = rows.filter((row) => row.entry_id === medicine.entry_id && !row.scheduled_at
      && GIVING.has(row.outcome) && row.state !== "refused");
    const total = given.reduce((sum, row) => sum + Number(row.amount ?? medicine.amount), 0);
    const maximum = medicine.max_per_day ? ` av maks ${dose(medicine.max_per_day, medicine.unit)} per døgn` : "";
    return h("article", { class: "card as-needed", "data-entry": medicine.entry_id },
      h("p", { class: "title" }, medicine.display_name),
      h("p", {}, `${dose(medicine.amount, medicine.unit)} ved behov${medicine.condition ? ` mot ${medicine.condition}` : ""}`),
      medicine.dose_text ? h("p", { class: "meta" }, medicine.dose_text) : "",
      h("p", {}, `Gitt i dag: ${dose(total, medicine.unit)}${maximum}`),
      h("div", { class: "actions" }, h("button", {
        type: "button", class: "button primary", "aria-label": `Gi ved behov: ${medicine.display_name}`,
        onclick: () => context.onAsNeeded(medicine),
      }, "Gi ved behov")));
  }));
}

function renderRecords(rows, context) {
  if (!rows.length) {
    replace(byId("records"), h("p", { class: "muted" }, "Ingen registreringer i dag."));
    return;
  }
  const sorted = [...rows].sort((a, b) => Date.parse(a.scheduled_at ?? a.at) - Date.parse(b.scheduled_at ?? b.at));
  replace(byId("records"), h("ul", { class: "plain-list" }, sorted.map((row) => h("li", { class: "card record", "data-state": row.state },
    h("p", { class: "title" }, `${row.scheduled_at ? time(row.scheduled_at, context.zone) : "Ved behov"} ${row.name}`),
    rowStatus(row, context),
    row.history.length ? h("p", { class: "meta" }, `Korrigert fra: ${row.history.map(outcomeText).join(" → ")}`) : ""))));
}

function renderEntries(patient, changed) {
  const entries = patient.list.entries.filter((entry) => entry.status !== "stopped" || changed.has(entry.id));
  if (!entries.length) {
    replace(byId("entries"), h("p", { class: "muted" }, "Listen er tom."));
    return;
  }
  replace(byId("entries"), entries.map((entry) => h("article", {
    class: `card entry${changed.has(entry.id) ? " changed" : ""}`, "data-entry": entry.id,
  },
  h("p", { class: "title" },
    changed.has(entry.id) ? h("span", { class: "badge changed" }, "Endret siden forrige besøk") : "",
    entry.status === "paused" ? h("span", { class: "badge paused" }, "Pauset") : "",
    entry.status === "stopped" ? h("span", { class: "badge paused" }, "Seponert") : "",
    entry.display_name),
  h("p", {}, entry.dose_text ?? "Ingen dosetekst"),
  entry.indication ? h("p", { class: "meta" }, `Mot: ${entry.indication}`) : "")));
}

export function renderRecent(patients, onOpen, zone) {
  byId("no-recent").hidden = patients.length > 0;
  replace(byId("recent-patients"), patients.map((patient) => h("li", {},
    h("button", { type: "button", class: "button secondary", onclick: () => onOpen(patient.patient_id) },
      `${nationalId(patient.patient_id)} – hentet ${time(patient.fetched_at, zone)}`))));
}

