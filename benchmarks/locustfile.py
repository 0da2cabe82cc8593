"""Load scenarios for PML, driven by locust over a seeded population with real development tokens.

Realistic users (the `mixed` scenario; weights ≈ share of real traffic):

- `HomeCareNurse` (60): a round of patients; GET the list with If-None-Match from the last ETag (mostly 304),
  now and then a delta sync (`/changes?since=`).
- `PrescriberReader` (20): GET a patient's list, search the catalogue as they type, check the list plus the
  proposed product for interactions.
- `PrescriberEditor` (10): GET, then change a dose, add or stop an entry with If-Match; on 412 take
  `current_version` from the answer and retry.
- `PharmacyDispensing` (5): a pharmacy sends a dispensing snapshot of what it handed over.
- `HospitalDischarge` (5): a hospital sends a discharge snapshot, then decides the proposal's findings
  (If-Match; 409 proposal-stale and 412 are decided again).

Single-purpose users for the benchmark's ratios (each run alone, so their weight does not matter):
`HelloWorld` (`/health/live`, the baseline), `CachedRead` (a hot set of lists read over and over),
`UncachedRead` (every read a patient not read before in the run), `ListWrite` (PATCH only, on patients the
user owns, keeping the ETag from each write).

Configuration (environment; `benchmarks/run.py` sets it):
- `PML_BENCH_PATIENTS_FILE`: the seeded national ids, one per line.
- `PML_DATA_DIR` (+ the usual `PML_AUTH_*`): where the development signing key is; every simulated user mints
  its own token with its own subject, as real clients have their own.
- `PML_BENCH_USER_RATE`: tasks per second per user, as a Poisson process (see `poisson_arrivals`); 0 or
  unset = as fast as it answers.
- `PML_BENCH_SAMPLES_DIR`: each locust process writes its raw samples there when it quits (full-precision
  latencies with timestamps, so the runner can cut warm-up and compute exact percentiles; locust's own
  percentiles are rounded to whole milliseconds).
- `PML_BENCH_HOT_PATIENTS`: size of the CachedRead hot set (default 1000).

Answers that are part of the protocol are not errors: 304 to a conditional read, 412 to a stale If-Match (the
user retries), 409 proposal-stale (the user decides again). Everything else >= 400 is a failure.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import random
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

from pml.auth.tokens import DevelopmentClaims, load_development_key, mint_token
from pml.settings import Settings

LIST = "/v1/patients/{}/medication-list"
PURPOSE = {"X-PML-Purpose": "TREAT"}
PROTOCOL_ANSWERS = {304, 409, 412}
MAX_RETRIES = 3
SEARCH_TERMS = ("amit", "saro", "para", "metf", "ator", "sim", "ami", "levax", "paracet 500", "kodi")


# -- the population, tokens, pacing --------------------------------------------------------------------------


def _patients() -> list[str]:
    path = os.environ.get("PML_BENCH_PATIENTS_FILE")
    if not path:
        raise RuntimeError("set PML_BENCH_PATIENTS_FILE to the seeded national ids (one per line)")
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


PATIENTS = _patients()
_SETTINGS = Settings()
_KEY = load_development_key(_SETTINGS)


def token(role: str, source: str | None, prefix: str) -> str:
    """A token of its own for each simulated user: rate limits and audit records are per subject."""
    claims = DevelopmentClaims(
        subject=f"{prefix}-{uuid.uuid4().hex[:12]}",
        role=role,
        name=f"Last {prefix}",
        hpr_number=str(random.randint(1_000_000, 9_999_999)),
        organisation="974703300",
        source=source,
    )
    return mint_token(_KEY, claims, settings=_SETTINGS, lifetime=dt.timedelta(hours=4))


def poisson_arrivals(rate: float) -> Any:
    """Task starts `rate` per second on average, with exponentially distributed gaps (a Poisson process).

    Independent clients arrive like this. locust's `constant_throughput` does not: its users fall into step
    with each other, because the answers to one burst come back together and every user then waits the same
    fixed gap. Measured here with 32 users writing once a second each (35 writes/s in all), the writes then
    came in bursts of 32 and waited 73 ms at the median, against 5 ms for the same 35/s from one user.
    """

    def wait_time(user: Any) -> float:
        now = time.monotonic()
        planned = getattr(user, "_pml_next_start", now) + random.expovariate(rate)
        # A task that overran its gap starts the next one at once, without banking the lost time.
        user._pml_next_start = max(planned, now)
        return float(user._pml_next_start - now)

    return wait_time


def pacing() -> Any:
    rate = float(os.environ.get("PML_BENCH_USER_RATE") or 0)
    return poisson_arrivals(rate) if rate > 0 else constant(0)


def etag_version(response: Any) -> int | None:
    tag = response.headers.get("etag") or response.headers.get("ETag")
    return int(tag.strip('W/"')) if tag else None


# -- raw samples, for exact percentiles over the steady part of a run ----------------------------------------

_SAMPLES: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
_STATUS: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
_FAILURES: dict[str, int] = defaultdict(int)
_NOT_DRIVEN: set[str] = set()
_LOCK = threading.Lock()


@events.request.add_listener
def _record(
    name: str, response_time: float, exception: Exception | None, response: Any = None, **_: Any
) -> None:
    status = str(getattr(response, "status_code", 0) or 0)
    _SAMPLES[name].append((round(time.time(), 4), round(response_time, 3), 0 if exception else 1))
    _STATUS[name][status] += 1
    if exception is not None:
        _FAILURES[name] += 1


@events.test_start.add_listener
def _keep_the_collector_out_of_the_measurement(**_: Any) -> None:
    """The load generator's own garbage collector must not show up as service latency. A full collection in
    this process walked everything locust, gevent and this file had built (about 45 ms, measured with a
    `gc.callbacks` probe), and every request in flight at that moment was timed that much slower (the raw
    samples had 40-60 ms stalls across every kind of request at once, hello-world included). Freezing what
    exists when the test starts leaves the collector only what the run itself allocates."""
    gc.collect()
    gc.freeze()


@events.quitting.add_listener
def _write_samples(environment: Any, **_: Any) -> None:
    directory = os.environ.get("PML_BENCH_SAMPLES_DIR")
    if not directory or not (_SAMPLES or _NOT_DRIVEN):
        return
    document = {
        "samples": _SAMPLES,
        "status": _STATUS,
        "failures": _FAILURES,
        "not_driven": sorted(_NOT_DRIVEN),
    }
    Path(directory, f"samples-{os.getpid()}.json").write_text(json.dumps(document))


# -- helpers over FastHttpUser -------------------------------------------------------------------------------


class PmlUser(FastHttpUser):
    abstract = True
    wait_time = pacing()
    role = "nurse"
    source: str | None = "home_care"
    connection_timeout = 10.0
    network_timeout = 10.0

    def on_start(self) -> None:
        self.headers = PURPOSE | {
            "Authorization": f"Bearer {token(self.role, self.source, type(self).__name__)}"
        }

    def call(
        self, method: str, path: str, name: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        """One request; protocol answers (304, 409, 412) count as successes, anything else >= 400 fails."""
        with self.client.request(
            method, path, name=name, headers=self.headers | (headers or {}), json=body, catch_response=True
        ) as response:
            if response.status_code in PROTOCOL_ANSWERS:
                response.success()
            elif response.status_code >= 400 or response.status_code == 0:
                response.failure(f"{response.status_code}: {(response.text or '')[:300]}")
            return response

    def read_list(self, patient_id: str, name: str, etag: int | None = None) -> Any:
        headers = {"If-None-Match": f'"{etag}"'} if etag is not None else None
        return self.call("GET", LIST.format(patient_id), name, headers=headers)


_ROUTES: list[str] = []


def _route_exists(user: FastHttpUser, fragment: str) -> bool:
    """Whether the running server has a route (features land at different times; a missing one is reported
    as not driven rather than as a wall of 404 failures). The OpenAPI document is fetched once per process."""
    with _LOCK:
        if not _ROUTES:
            response = user.client.get("/v1/openapi.json", name="openapi (setup)")
            _ROUTES.extend(response.json().get("paths", {}) if response.status_code == 200 else ["-"])
    return any(fragment in path for path in _ROUTES)


# -- realistic users -----------------------------------------------------------------------------------------


class HomeCareNurse(PmlUser):
    """A home-care nurse's mobile client: a round of patients, kept in step with conditional reads."""

    weight = 60
    role, source = "nurse", "home_care"

    def on_start(self) -> None:
        super().on_start()
        self.round = random.sample(PATIENTS, min(20, len(PATIENTS)))
        self.versions: dict[str, int] = {}

    @task
    def keep_in_step(self) -> None:
        patient_id = random.choice(self.round)
        known = self.versions.get(patient_id)
        if known is not None and random.random() < 0.25:
            response = self.call(
                "GET", f"{LIST.format(patient_id)}/changes?since={known}", "nurse: changes since"
            )
            if response.status_code == 200:
                self.versions[patient_id] = response.json()["current_version"]
            return
        response = self.read_list(patient_id, "nurse: GET list (If-None-Match)", known)
        if (version := etag_version(response)) is not None:
            self.versions[patient_id] = version


class PrescriberReader(PmlUser):
    """A GP opens a patient, searches for a medicine while typing, and checks it against the list."""

    weight = 20
    role, source = "prescriber", "gp"

    @task
    def read_and_check(self) -> None:
        patient_id = random.choice(PATIENTS)
        listed = self.read_list(patient_id, "prescriber: GET list")
        entries = listed.json()["entries"] if listed.status_code == 200 else []
        term = quote(_search_term(entries))
        search = self.call("GET", f"/v1/catalogue/search?q={term}&limit=10", "prescriber: catalogue search")
        hits = search.json().get("hits", []) if search.status_code == 200 else []
        proposed = [{"kind": "product", "value": hits[0]["product"]["id"]}] if hits else []
        self.call(
            "POST",
            f"/v1/patients/{patient_id}/interactions",
            "prescriber: interaction check",
            body={"proposed": proposed},
        )


def _search_term(entries: list[dict[str, Any]]) -> str:
    """What a prescriber types: the first letters of a medicine like one on the list (any catalogue works)."""
    names = [e["display_name"].split()[0] for e in entries if e["display_name"].split()]
    word = random.choice(names) if names else random.choice(SEARCH_TERMS)
    return word[: random.randint(3, 6)].lower()


def _dose_change(entry: dict[str, Any]) -> dict[str, Any]:
    amount = random.choice(["1", "2"])
    unit = (entry.get("dosage") or {}).get("unit", "tablett")
    return {
        "dose_text": f"{amount} {unit} om morgenen (lasttest)",
        "dosage": {"unit": unit, "schedule": [{"time_of_day": "morning", "amount": amount}]},
        "reason": "dosejustering (lasttest)",
    }


NEW_ENTRY = {
    "display_name": "Paracet tablett 500 mg",
    "product": {"atc": "N02BE01"},
    "strength": "500 mg",
    "form": "tablett",
    "dose_text": "2 tabletter ved behov, maks 8 per døgn",
    "dosage": {"unit": "tablett", "as_needed": {"amount": "2", "max_per_day": "8"}},
    "source": "gp",
}


class ListWriter(PmlUser):
    abstract = True
    role, source = "prescriber", "gp"

    def write(self, patient_id: str, version: int, make: Any, name: str) -> tuple[int | None, Any]:
        """Send `make(list)` with If-Match; on 412 take the current list from the answer and try again."""
        current: dict[str, Any] | None = None
        for _ in range(MAX_RETRIES):
            method, path, body = make(current)
            if method is None:
                return version, None
            headers = {"If-Match": f'"{version}"', "Idempotency-Key": uuid.uuid4().hex}
            response = self.call(method, path, name, body=body, headers=headers)
            if response.status_code != 412:
                return etag_version(response), response
            problem = response.json()
            version, current = problem["current_version"], problem.get("current_list")
        return None, None


def _active(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["status"] == "active"]


class PrescriberEditor(ListWriter):
    """A GP changes a dose (mostly), adds a medicine or stops one, always based on the version they read."""

    weight = 10

    @task
    def edit(self) -> None:
        patient_id = random.choice(PATIENTS)
        response = self.read_list(patient_id, "editor: GET list")
        if response.status_code != 200:
            return
        listed = response.json()
        choice = random.random()
        entries_path = f"{LIST.format(patient_id)}/entries"

        def make(current: dict[str, Any] | None) -> tuple[str | None, str, Any]:
            active = _active((current or listed)["entries"])
            if choice < 0.15 or not active:
                return "POST", entries_path, NEW_ENTRY
            entry = random.choice(active)
            if choice < 0.3 and len(active) > 3:
                return "POST", f"{entries_path}/{entry['id']}/stop", {"reason": "seponert (lasttest)"}
            return "PATCH", f"{entries_path}/{entry['id']}", _dose_change(entry)

        self.write(patient_id, listed["version"], make, "editor: write (If-Match)")


class PharmacyDispensing(PmlUser):
    """A pharmacy reports what it handed over: a dispensing snapshot of one to three of the medicines."""

    weight = 5
    role, source = "pharmacist", "pharmacy"

    def on_start(self) -> None:
        super().on_start()
        if not _route_exists(self, "/source-snapshots"):
            _NOT_DRIVEN.add(type(self).__name__)
            raise StopUser

    @task
    def dispense(self) -> None:
        patient_id = random.choice(PATIENTS)
        response = self.read_list(patient_id, "pharmacy: GET list")
        active = _active(response.json()["entries"]) if response.status_code == 200 else []
        dispensed = [_as_dispensed(e) for e in random.sample(active, min(len(active), random.randint(1, 3)))]
        snapshot = {
            "source": "pharmacy",
            "kind": "dispensing",
            "sender_system": "Farmasøytisk lasttest",
            "sent_at": dt.datetime.now(dt.UTC).isoformat(),
            "entries": dispensed,
        }
        self.call(
            "POST",
            f"/v1/patients/{patient_id}/source-snapshots",
            "pharmacy: dispensing snapshot",
            body=snapshot,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )


def _as_dispensed(entry: dict[str, Any]) -> dict[str, Any]:
    product = entry.get("product") or {}
    return {
        "varenr": product.get("varenr"),
        "product_id": product.get("merkevare_id"),
        "atc": product.get("atc"),
        "name": entry["display_name"],
        "strength": entry.get("strength"),
        "dose_text": entry.get("dose_text"),
        "dispensed_on": dt.date.today().isoformat(),
        "quantity": "1",
    }


def _as_discharged(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hospital's discharge list: the list's active medicines, one dose changed, one stopped, one new."""
    active = _active(entries)
    sent = [_as_dispensed(e) | {"status": "active", "dispensed_on": None} for e in active]
    if len(sent) > 2:
        sent[0]["dose_text"] = "1 tablett morgen og kveld"
        sent[1]["status"], sent[1]["status_reason"] = "seponert", "seponert under innleggelse"
    sent.append(
        {
            "name": "Paracet tablett 500 mg",
            "atc": "N02BE01",
            "strength": "500 mg",
            "dose_text": "2 tabletter ved behov, maks 8 per døgn",
            "status": "active",
        }
    )
    return sent


class HospitalDischarge(PmlUser):
    """A hospital discharges a patient: sends its discharge list, then a doctor decides each open finding."""

    weight = 5
    role, source = "prescriber", "hospital"

    def on_start(self) -> None:
        super().on_start()
        if not _route_exists(self, "/reconciliations/{proposal_id}/decisions"):
            _NOT_DRIVEN.add(type(self).__name__)
            raise StopUser

    @task
    def discharge(self) -> None:
        patient_id = random.choice(PATIENTS)
        response = self.read_list(patient_id, "discharge: GET list")
        if response.status_code != 200:
            return
        snapshot = {
            "source": "hospital",
            "kind": "discharge",
            "sender_system": "DIPS lasttest",
            "entries": _as_discharged(response.json()["entries"]),
        }
        submitted = self.call(
            "POST",
            f"/v1/patients/{patient_id}/source-snapshots",
            "discharge: snapshot",
            body=snapshot,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        proposal = (submitted.json() or {}).get("proposal") if submitted.status_code == 201 else None
        if proposal:
            self.decide(patient_id, proposal)

    def decide(self, patient_id: str, proposal: dict[str, Any]) -> None:
        """Accept certain findings that carry an action, reject the rest; re-decide once on 409 or 412."""
        for _ in range(MAX_RETRIES):
            decisions = _decisions(proposal)
            if not decisions:
                return
            path = f"/v1/patients/{patient_id}/reconciliations/{proposal['id']}/decisions"
            response = self.call(
                "POST",
                path,
                "discharge: decisions (If-Match)",
                body={"decisions": decisions},
                headers={"If-Match": f'"{proposal["list_version"]}"'},
            )
            if response.status_code not in (409, 412):
                return
            proposal = response.json().get("proposal") or self._reread(patient_id, proposal["id"])

    def _reread(self, patient_id: str, proposal_id: str) -> dict[str, Any]:
        response = self.call(
            "GET", f"/v1/patients/{patient_id}/reconciliations/{proposal_id}", "discharge: GET proposal"
        )
        return response.json() if response.status_code == 200 else {"findings": [], "id": proposal_id}


def _decisions(proposal: dict[str, Any]) -> list[dict[str, Any]]:
    open_findings = [f for f in proposal.get("findings", []) if f.get("state") == "open"]
    return [
        {
            "finding_id": f["id"],
            "decision": "accept" if f.get("action") and not f.get("needs_review") else "reject",
        }
        for f in open_findings
    ]


# -- single-purpose users for the benchmark's ratios ---------------------------------------------------------


class HelloWorld(PmlUser):
    """The baseline: a trivial endpoint on the same server, through the same middleware, same load client."""

    def on_start(self) -> None:
        self.headers = {}

    @task
    def live(self) -> None:
        self.call("GET", "/health/live", "hello-world: /health/live")


class CachedRead(PmlUser):
    """Full list reads (no If-None-Match) of a hot set: after warm-up every read can come from the cache."""

    def on_start(self) -> None:
        super().on_start()
        hot = int(os.environ.get("PML_BENCH_HOT_PATIENTS") or 1000)
        self.hot = PATIENTS[:hot]

    @task
    def read(self) -> None:
        self.read_list(random.choice(self.hot), "cached read: GET list")


_UNREAD_LOCK = threading.Lock()
_UNREAD: list[str] = []
_WORKER_INDEX = [0]


@events.init.add_listener
def _share_out_unread_patients(environment: Any, **_: Any) -> None:
    """Each locust process reads its own slice of the population (worker index of N processes), in its own
    random order, so no two processes ever read the same patient in an uncached run."""
    index = getattr(environment.runner, "worker_index", 0) or 0
    _WORKER_INDEX[0] = index
    processes = int(os.environ.get("PML_BENCH_LOAD_PROCESSES") or 1)
    mine = PATIENTS[index % processes :: processes]
    order = random.Random(f"{index}:{os.environ.get('PML_BENCH_RUN', '')}")  # another order in every run
    _UNREAD.extend(order.sample(mine, len(mine)))


class UncachedRead(PmlUser):
    """Every read is a patient nobody in this process has read in this run: nothing can come from a cache
    (the runner also empties Redis first and gives each locust process its own order)."""

    @task
    def read(self) -> None:
        with _UNREAD_LOCK:
            patient_id = _UNREAD.pop() if _UNREAD else None
        if patient_id is None:
            raise StopUser  # the population is used up; the runner sizes runs so this does not happen
        self.read_list(patient_id, "uncached read: GET list")


_OWNED: list[str] = []


def _owned(count: int) -> list[str]:
    """Patients for one writing user, never another user's (in any locust process): writers of different
    patients never wait for each other, so this measures write throughput, not contention. They come from
    the end of the population, away from the hot set the cached-read runs use."""
    with _LOCK:
        if not _OWNED:
            processes = int(os.environ.get("PML_BENCH_LOAD_PROCESSES") or 1)
            index = _WORKER_INDEX[0]
            _OWNED.extend(reversed(PATIENTS[len(PATIENTS) // 2 :][index % processes :: processes]))
        taken = _OWNED[-count:]
        del _OWNED[-count:]
    return taken


class ListWrite(ListWriter):
    """Dose changes only, on patients this user owns (no GET in between: the ETag of each write is kept)."""

    def on_start(self) -> None:
        super().on_start()
        self.mine = _owned(3)
        self.known: dict[str, dict[str, Any]] = {}

    @task
    def change_dose(self) -> None:
        patient_id = random.choice(self.mine)
        listed = self.known.get(patient_id)
        if listed is None:
            response = self.read_list(patient_id, "write: first GET (setup)")
            if response.status_code != 200:
                return
            listed = self.known[patient_id] = response.json()
        entries_path = f"{LIST.format(patient_id)}/entries"

        def make(current: dict[str, Any] | None) -> tuple[str | None, str, Any]:
            active = _active((current or listed)["entries"])
            if not active:
                return "POST", entries_path, NEW_ENTRY
            return "PATCH", f"{entries_path}/{random.choice(active)['id']}", _dose_change(active[0])

        _, response = self.write(patient_id, listed["version"], make, "write: PATCH entry (If-Match)")
        if response is not None and response.status_code in (200, 201):
            self.known[patient_id] = response.json()["medication_list"]
