// A patient as the device keeps them for the shift: list, today's doses, interaction warnings, today's records,
// and what changed since the last visit (delta sync from the last list version the device showed the nurse).

import { ApiError, OfflineError } from "./api.js";
import { localDate } from "./format.js";
import { store } from "./store.js";

// Loads the patient from the service and keeps the copy; falls back to the kept copy when offline.
export async function loadPatient(api, patientId, zone) {
  const kept = await store.get("patients", patientId);
  try {
    const fresh = await fetchPatient(api, patientId, zone, kept);
    await store.put("patients", fresh);
    return { patient: fresh, offline: false };
  } catch (error) {
    if (error instanceof OfflineError && kept) return { patient: kept, offline: true };
    throw error;
  }
}

async function fetchPatient(api, patientId, zone, kept) {
  const date = localDate(zone);
  const list = await api.list(patientId);
  const [plan, interactions, records] = await Promise.all([
    api.doses(patientId, date),
    api.interactions(patientId).catch(interactionsUnavailable),
    api.administrations(patientId, date),
  ]);
  const baseline = kept?.baseline_version ?? lastRecordedVersion(records) ?? list.version;
  const changes = baseline < list.version ? await changesSince(api, patientId, baseline) : [];
  return {
    patient_id: patientId, list, plan, interactions, records, changes, baseline_version: baseline,
    date, fetched_at: new Date().toISOString(), visit_open: true,
  };
}

// Without a copy from an earlier visit on this device (a new shift), the last visit is the newest record made
// today by anyone in home care: it names the list version that nurse saw.
function lastRecordedVersion(records) {
  const versions = records.chains.map((chain) => chain.effective.list_version);
  return versions.length ? Math.max(...versions) : null;
}

async function changesSince(api, patientId, version) {
  const changes = [];
  let since = version;
  for (;;) {
    const page = await api.changesSince(patientId, since);
    changes.push(...page.changes);
    if (!page.has_more || !page.changes.length) return changes;
    since = page.changes[page.changes.length - 1].version;
  }
}

// "No interaction check" must never look like "no interactions": keep why it is missing.
function interactionsUnavailable(error) {
  if (error instanceof ApiError && !(error instanceof OfflineError)) {
    return { unavailable: true, detail: error.message };
  }
  throw error;
}

// Leaving the patient ends the visit: what the nurse saw becomes the baseline for "changed since last visit".
export async function endVisit(patientId) {
  const kept = await store.get("patients", patientId);
  if (!kept) return;
  kept.baseline_version = kept.list.version;
  kept.changes = [];
  kept.visit_open = false;
  await store.put("patients", kept);
}

export async function keptPatients() {
  return (await store.all("patients")).sort((a, b) => b.fetched_at.localeCompare(a.fetched_at));
}

export function changedEntryIds(patient) {
  return new Set(patient.changes.filter((change) => change.entry_id).map((change) => change.entry_id));
}
