"""/v1/patients/{id}/administrations over real HTTP: one record per Idempotency-Key, correction chains,
records against an out-of-date list stored and flagged, reads by local day, roles, and the audit trail."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from pml.auth.tokens import DevelopmentClaims
from pml.settings import Settings
from tests.support.client import ListClient, make_token
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess

DAY = "2026-02-10"
CLINICIAN = {"hpr_number": "9144890", "organisation": "974703300"}


@dataclass
class Visit:
    """A patient with one medicine (morning and evening), seen by a nurse at list version `version`."""

    patient_id: str
    entry_id: str
    version: int
    morning: str  # the scheduled_at of the day's morning dose, as /doses gives it
    evening: str


@pytest.fixture
def callers(live_server: ServerProcess, server_settings: Settings) -> Iterator[Callable[..., ListClient]]:
    opened: list[ListClient] = []

    def make(role: str, **claims: Any) -> ListClient:
        subject = f"{role}-{uuid.uuid4().hex[:8]}"
        token = make_token(server_settings, DevelopmentClaims(subject=subject, role=role, **claims))
        client = ListClient(live_server.base_url, token, purpose="PATRQT" if role == "patient" else "TREAT")
        client.subject = subject  # type: ignore[attr-defined]
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def nurse(callers: Callable[..., ListClient]) -> ListClient:
    return callers("nurse", source="home_care", **CLINICIAN)


def new_visit(lists: ListClient, nurse: ListClient, **entry: Any) -> Visit:
    patient_id = new_patient_id()
    added = lists.add(patient_id, entry_body(**entry), version=0)
    assert added.status_code == 201, added.text
    plan = nurse.http.get(f"/v1/patients/{patient_id}/doses", params={"date": DAY}).json()
    scheduled = [dose["scheduled_at"] for dose in plan["doses"]] or ["", ""]  # as-needed only: none
    morning, evening = scheduled
    return Visit(patient_id, added.json()["entry"]["id"], plan["list_version"], morning, evening)


def body(visit: Visit, **fields: Any) -> dict[str, Any]:
    return {
        "entry_id": visit.entry_id,
        "scheduled_at": visit.morning,
        "outcome": "given",
        "amount": "1",
        "occurred_at": "2026-02-10T08:05:00+01:00",
        "list_version": visit.version,
    } | fields


def record(
    client: ListClient, patient_id: str, payload: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return client.http.post(f"/v1/patients/{patient_id}/administrations", json=payload, headers=headers)


def day_of(client: ListClient, patient_id: str, day: str = DAY) -> dict[str, Any]:
    response = client.http.get(f"/v1/patients/{patient_id}/administrations", params={"date": day})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# -- recording and reading -----------------------------------------------------------------------------------


def test_a_nurse_records_a_dose_and_reads_it_back_by_day(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(lists, nurse)
    response = record(nurse, visit.patient_id, body(visit), key=str(uuid.uuid4()))
    assert response.status_code == 201, response.text
    saved = response.json()
    assert response.headers["location"].endswith(saved["record_id"])
    assert (saved["outcome"], saved["amount"], saved["unit"], saved["flagged_for_review"]) == (
        "given",
        "1.0000",
        "tablett",
        False,
    )
    assert (saved["recorded_by"]["role"], saved["entry"]["display_name"]) == (
        "nurse",
        "Metformin tablett 500 mg",
    )
    (chain,) = day_of(nurse, visit.patient_id)["chains"]
    assert (chain["effective"], chain["records"], chain["corrected"]) == (saved, [saved], False)
    assert day_of(nurse, visit.patient_id, "2026-02-11")["chains"] == []


def test_not_given_needs_a_reason_and_partly_given_an_amount(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(lists, nurse)
    invalid = [
        body(visit, outcome="not_given", amount=None),
        body(visit, outcome="partly_given", amount=None),
        body(visit, outcome="given", reason="refused"),
        body(visit, outcome="entered_in_error", amount=None),
        body(visit, reason="not-a-reason", outcome="not_given", amount=None),
        body(visit, surprise="field"),
    ]
    for payload in invalid:
        response = record(nurse, visit.patient_id, payload)
        assert response.status_code == 422, payload
        assert response.json()["type"].endswith("/validation-error")
    refused = record(nurse, visit.patient_id, body(visit, outcome="not_given", amount=None, reason="refused"))
    partly = record(
        nurse, visit.patient_id, body(visit, scheduled_at=visit.evening, outcome="partly_given", amount="0.5")
    )
    assert (refused.status_code, partly.status_code) == (201, 201)
    assert [chain["effective"]["outcome"] for chain in day_of(nurse, visit.patient_id)["chains"]] == [
        "not_given",
        "partly_given",
    ]


@pytest.mark.parametrize(
    ("fields", "status", "problem"),
    [
        ({"entry_id": str(uuid.uuid4())}, 404, "entry-not-found"),
        ({"list_version": 99}, 422, "unknown-list-version"),
        ({"occurred_at": "2099-01-01T08:00:00+01:00"}, 422, "occurred-in-the-future"),
        ({"occurred_at": "2026-02-10T08:05:00"}, 422, "validation-error"),  # no zone: which 08:05?
        ({"corrects": str(uuid.uuid4())}, 404, "administration-not-found"),
    ],
)
def test_what_cannot_be_true_is_refused(
    lists: ListClient, nurse: ListClient, fields: dict[str, Any], status: int, problem: str
) -> None:
    visit = new_visit(lists, nurse)
    response = record(nurse, visit.patient_id, body(visit, **fields))
    assert (response.status_code, response.json()["type"].rsplit("/", 1)[1]) == (status, problem)
    assert day_of(nurse, visit.patient_id)["chains"] == []


def test_records_are_read_by_the_local_day_across_midnight(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(
        lists, nurse, morning=None, evening=None, dosage={"unit": "tablett", "as_needed": {"amount": 1}}
    )
    # 00:30 in Oslo on 26 October is still 25 October in UTC: it belongs to the 26th.
    just_after_midnight = "2026-10-26T00:30:00+01:00"
    payload = body(visit, scheduled_at=None, occurred_at=just_after_midnight)
    assert record(nurse, visit.patient_id, payload).status_code == 201
    assert day_of(nurse, visit.patient_id, "2026-10-25")["chains"] == []
    assert len(day_of(nurse, visit.patient_id, "2026-10-26")["chains"]) == 1


# -- idempotency ---------------------------------------------------------------------------------------------


def test_the_same_idempotency_key_twice_gives_one_record(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(lists, nurse)
    key = str(uuid.uuid4())
    first = record(nurse, visit.patient_id, body(visit), key=key)
    again = record(nurse, visit.patient_id, body(visit), key=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(day_of(nurse, visit.patient_id)["chains"]) == 1


def test_a_used_key_with_another_body_is_refused(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(lists, nurse)
    key = str(uuid.uuid4())
    assert record(nurse, visit.patient_id, body(visit), key=key).status_code == 201
    other = record(nurse, visit.patient_id, body(visit, scheduled_at=visit.evening), key=key)
    assert (other.status_code, other.json()["type"].rsplit("/", 1)[1]) == (422, "idempotency-key-reused")
    assert len(day_of(nurse, visit.patient_id)["chains"]) == 1


def test_concurrent_replays_of_one_key_make_one_record(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(lists, nurse)
    key = str(uuid.uuid4())
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: record(nurse, visit.patient_id, body(visit), key=key), range(6)))
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["record_id"] for response in responses}) == 1
    assert len(day_of(nurse, visit.patient_id)["chains"]) == 1


# -- corrections ---------------------------------------------------------------------------------------------


def test_a_correction_chain_shows_the_effective_record_and_its_history(
    lists: ListClient, nurse: ListClient
) -> None:
    visit = new_visit(lists, nurse)
    first = record(nurse, visit.patient_id, body(visit)).json()
    second = record(
        nurse,
        visit.patient_id,
        body(visit, outcome="not_given", amount=None, reason="refused", corrects=first["record_id"]),
    ).json()
    third = record(
        nurse,
        visit.patient_id,
        body(visit, outcome="entered_in_error", amount=None, corrects=second["record_id"]),
    ).json()
    assert (second["corrects"], third["corrects"]) == (first["record_id"], second["record_id"])
    (chain,) = day_of(nurse, visit.patient_id)["chains"]
    assert [r["record_id"] for r in chain["records"]] == [
        first["record_id"],
        second["record_id"],
        third["record_id"],
    ]
    assert (chain["effective"]["outcome"], chain["corrected"]) == ("entered_in_error", True)
    by_id = nurse.http.get(f"/v1/patients/{visit.patient_id}/administrations/{first['record_id']}")
    assert by_id.json() == chain


def test_a_record_is_corrected_once_then_its_correction_is(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(lists, nurse)
    first = record(nurse, visit.patient_id, body(visit)).json()
    fix = body(visit, outcome="not_given", amount=None, reason="not_at_home", corrects=first["record_id"])
    second = record(nurse, visit.patient_id, fix).json()
    twice = record(nurse, visit.patient_id, fix)
    assert twice.status_code == 409
    assert twice.json()["corrected_by"] == second["record_id"]


def test_a_correction_may_move_a_dose_to_another_day(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(lists, nurse)
    first = record(nurse, visit.patient_id, body(visit)).json()
    moved = body(
        visit,
        corrects=first["record_id"],
        scheduled_at="2026-02-11T08:00:00+01:00",
        occurred_at="2026-02-11T08:05:00+01:00",
    )
    assert record(nurse, visit.patient_id, moved).status_code == 201
    assert day_of(nurse, visit.patient_id)["chains"] == []
    (chain,) = day_of(nurse, visit.patient_id, "2026-02-11")["chains"]
    assert len(chain["records"]) == 2


# -- flagged for review --------------------------------------------------------------------------------------


def test_a_record_against_an_out_of_date_list_is_stored_and_flagged(
    lists: ListClient, nurse: ListClient
) -> None:
    visit = new_visit(lists, nurse)
    change = {"dose_text": "2 tabletter morgen og kveld", "source": "gp"}
    response = lists.write(
        "PATCH", visit.patient_id, f"/entries/{visit.entry_id}", change, version=visit.version
    )
    assert response.status_code == 200
    stale = record(nurse, visit.patient_id, body(visit))
    assert stale.status_code == 201
    assert (stale.json()["flagged_for_review"], stale.json()["review_reasons"]) == (True, ["entry-changed"])
    fresh = record(
        nurse, visit.patient_id, body(visit, scheduled_at=visit.evening, list_version=visit.version + 1)
    )
    assert (fresh.status_code, fresh.json()["flagged_for_review"]) == (201, False)
    assert [c["effective"]["flagged_for_review"] for c in day_of(nurse, visit.patient_id)["chains"]] == [
        True,
        False,
    ]


def test_a_record_for_a_stopped_entry_is_stored_and_flagged(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(lists, nurse)
    stop = lists.write(
        "POST",
        visit.patient_id,
        f"/entries/{visit.entry_id}/stop",
        {"reason": "seponert"},
        version=visit.version,
    )
    assert stop.status_code == 200
    response = record(nurse, visit.patient_id, body(visit))
    assert (response.status_code, response.json()["review_reasons"]) == (201, ["entry-stopped"])
    assert response.json()["entry"]["status"] == "stopped"


def test_a_dose_not_on_the_plan_is_flagged(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(lists, nurse)
    response = record(nurse, visit.patient_id, body(visit, scheduled_at="2026-02-10T12:00:00+01:00"))
    assert response.json()["review_reasons"] == ["not-a-scheduled-time"]
    unscheduled = record(nurse, visit.patient_id, body(visit, scheduled_at=None))
    assert unscheduled.json()["review_reasons"] == ["not-as-needed"]


def test_as_needed_doses_over_the_daily_maximum_are_flagged(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(
        lists,
        nurse,
        morning=None,
        evening=None,
        dosage={"unit": "tablett", "as_needed": {"amount": 2, "max_per_day": 4}},
    )
    given = [
        record(nurse, visit.patient_id, body(visit, scheduled_at=None, amount=None, occurred_at=at)).json()
        for at in ("2026-02-10T09:00:00+01:00", "2026-02-10T15:00:00+01:00", "2026-02-10T21:00:00+01:00")
    ]
    assert [g["review_reasons"] for g in given] == [[], [], ["above-daily-maximum"]]
    # a dose the next day starts a new count
    next_day = body(visit, scheduled_at=None, amount=None, occurred_at="2026-02-11T09:00:00+01:00")
    assert record(nurse, visit.patient_id, next_day).json()["flagged_for_review"] is False


# -- who may -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "claims", "can_record", "can_read"),
    [
        ("nurse", {"source": "home_care", **CLINICIAN}, True, True),
        ("prescriber", {"source": "gp", **CLINICIAN}, True, True),
        ("pharmacist", {"source": "pharmacy", **CLINICIAN}, False, False),
        ("patient-own", {}, False, True),
        ("patient-other", {}, False, False),
        ("auditor", {}, False, False),
        ("admin", {}, False, False),
    ],
)
def test_roles(
    lists: ListClient,
    nurse: ListClient,
    callers: Callable[..., ListClient],
    role: str,
    claims: dict[str, Any],
    can_record: bool,
    can_read: bool,
) -> None:
    visit = new_visit(lists, nurse)
    if role.startswith("patient"):
        claims = {"national_id": visit.patient_id if role == "patient-own" else new_patient_id()}
    client = callers(role.split("-")[0], **claims)
    recorded = record(client, visit.patient_id, body(visit))
    read = client.http.get(f"/v1/patients/{visit.patient_id}/administrations", params={"date": DAY})
    assert (recorded.status_code == 201, read.status_code == 200) == (can_record, can_read)
    assert recorded.status_code in (201, 403)
    assert read.status_code in (200, 403)


def test_every_call_is_audited(
    lists: ListClient, nurse: ListClient, callers: Callable[..., ListClient]
) -> None:
    visit = new_visit(lists, nurse)
    pharmacist = callers("pharmacist", source="pharmacy", **CLINICIAN)
    assert record(nurse, visit.patient_id, body(visit)).status_code == 201
    assert record(pharmacist, visit.patient_id, body(visit)).status_code == 403
    day_of(nurse, visit.patient_id)
    auditor = callers("auditor")

    def trail(client: ListClient) -> list[tuple[str, str, str | None]]:
        response = auditor.http.get("/v1/audit/records", params={"actor": client.subject})  # type: ignore[attr-defined]
        assert response.status_code == 200, response.text
        return [(r["action"], r["outcome"], r["patient_id"]) for r in reversed(response.json()["records"])]

    assert trail(nurse)[-2:] == [
        ("record_administration", "success", visit.patient_id),
        ("read_administrations", "success", visit.patient_id),
    ]
    assert trail(nurse)[0] == ("read_doses_due", "success", visit.patient_id)
    assert trail(pharmacist) == [("record_administration", "denied", visit.patient_id)]


def test_the_day_defaults_to_today(lists: ListClient, nurse: ListClient) -> None:
    visit = new_visit(lists, nurse)
    now = dt.datetime.now(dt.UTC)
    payload = body(visit, scheduled_at=None, occurred_at=now.isoformat())
    assert record(nurse, visit.patient_id, payload).status_code == 201
    response = nurse.http.get(f"/v1/patients/{visit.patient_id}/administrations")
    assert response.status_code == 200
    assert len(response.json()["chains"]) == 1
