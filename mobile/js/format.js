// Norwegian (bokmål) wording and formats. Times are shown in the service's time zone, whatever the phone says.

export const OUTCOME_TEXT = {
  given: "Gitt",
  partly_given: "Delvis gitt",
  not_given: "Ikke gitt",
  entered_in_error: "Registrert ved en feil",
};

export const REASON_TEXT = {
  refused: "pasienten nektet",
  not_at_home: "pasienten var ikke hjemme",
  clinical_hold: "holdt tilbake av faglige grunner",
  medicine_missing: "legemiddelet mangler",
};

export const REVIEW_TEXT = {
  "entry-changed": "legemiddelet ble endret etter at du så listen",
  "entry-paused": "legemiddelet er pauset",
  "entry-stopped": "legemiddelet er seponert",
  "not-a-scheduled-time": "tidspunktet er ikke en planlagt dose",
  "not-as-needed": "legemiddelet er ikke forskrevet ved behov",
  "above-daily-maximum": "over maksimal dose per døgn",
};

export const TIME_OF_DAY_TEXT = { morning: "Morgen", midday: "Midt på dagen", evening: "Kveld", night: "Natt" };

export const ACTION_TEXT = {
  add: "Nytt legemiddel",
  change: "Endret",
  stop: "Seponert",
  pause: "Pauset",
  resume: "Gjenopptatt",
  review: "Listen ajourført",
};

export const DST_TEXT = {
  "moved-past-gap": "Klokken stilles fram i natt: dosen gis én time senere på klokken.",
  "first-of-repeated-hour": "Klokken stilles tilbake i natt: dosen gis første gang klokken viser dette.",
};

export function amount(value) {
  const number = Number(value);
  return Number.isFinite(number) ? number.toLocaleString("nb-NO", { maximumFractionDigits: 3 }) : String(value);
}

export function dose(value, unit) {
  return unit ? `${amount(value)} ${unit}` : amount(value);
}

export function nationalId(id) {
  return id.length === 11 ? `${id.slice(0, 6)} ${id.slice(6)}` : id;
}

export function time(iso, zone) {
  return new Intl.DateTimeFormat("nb-NO", { timeZone: zone, hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

export function dateTime(iso, zone) {
  return new Intl.DateTimeFormat("nb-NO", {
    timeZone: zone, day: "numeric", month: "numeric", year: "numeric", hour: "2-digit", minute: "2-digit",
  }).format(new Date(iso));
}

// The local calendar day as YYYY-MM-DD in `zone` (en-CA formats dates that way).
export function localDate(zone, at = new Date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(at);
}

export function localMinutes(zone, at = new Date()) {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
    .formatToParts(at);
  const part = (type) => Number(parts.find((p) => p.type === type).value);
  return part("hour") * 60 + part("minute");
}

export function actorName(actor) {
  return actor?.name || actor?.hpr_number || actor?.subject || "ukjent";
}
