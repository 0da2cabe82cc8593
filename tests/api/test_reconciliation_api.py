"""Reconciliation over real HTTP against a real PML process: submitting snapshots as each kind of source, the
stored document, roles, the auto-apply policy, decisions with If-Match and Idempotency-Key, re-evaluation of a
stale proposal, and a decision racing another write.

The live server has the real FEST extract active, so the medicines here are the extract's: amitriptyline
(Sarotex, Amitriptylin Abcur/Orifarm) and Kodimagnyl. The synthetic catalogue and the corpus are exercised
in-process (tests/pml/reconciliation)."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from pml.auth.tokens import DevelopmentClaims
from pml.settings import Settings
from tests.support.client import ListClient, make_token
from tests.support.factories import new_patient_id
from tests.support.servers import ServerProcess

SAROTEX_25_VARENR = "444091"
SAROTEX = {
    "display_name": "Sarotex tab 25 mg",
    "product": {"atc": "N06AA09"},
    "strength": "25 mg",
    "dose_text": "1 tablett kveld",
    "source": "gp",
}
GP_SNAPSHOT = {
    "source": "gp",
    "kind": "medication_list",
    "sender_system": "Infodoc Plenario",
    "sent_at": "2026-11-20T09:00:00+01:00",
    "entries": [
        {"name": "Sarotex 25mg", "dose_text": "0+0+1", "lokal_id": "LM-1", "ekstra": {"kilde": "EPJ"}},
        {"name": "Kodimagnyl", "dose_text": "1-2 tabletter ved behov, maks 6 per døgn", "strength": 500},
        {"name": "Tran", "dose_text": "5 ml daglig"},
    ],
}


def _client(
    server: ServerProcess, settings: Settings, claims: DevelopmentClaims | None = None
) -> httpx.Client:
    token = make_token(settings, claims) if claims else make_token(settings)
    return httpx.Client(
        base_url=server.base_url,
        timeout=15,
        headers={"Authorization": f"Bearer {token}", "X-PML-Purpose": "TREAT"},
    )


@pytest.fixture
def gp(live_server: ServerProcess, server_settings: Settings) -> Iterator[httpx.Client]:
    with _client(live_server, server_settings) as client:
        yield client


def _person(role: str, source: str) -> DevelopmentClaims:
    return DevelopmentClaims(
        subject=f"test-{role}", role=role, hpr_number="7654321", organisation="974703301", source=source
    )


def _submit(client: httpx.Client, patient: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post(f"/v1/patients/{patient}/source-snapshots", json=body, headers=headers)


def _patient_with_sarotex(lists: ListClient) -> str:
    patient = new_patient_id()
    assert lists.add(patient, SAROTEX, version=0).status_code == 201
    return patient


def _findings(outcome: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["finding_class"]: f for f in outcome["proposal"]["findings"]}


def _decide(
    client: httpx.Client,
    patient: str,
    proposal_id: str,
    version: int,
    decisions: list[dict[str, Any]],
    key: str | None = None,
) -> httpx.Response:
    headers = {"If-Match": f'"{version}"'} | ({"Idempotency-Key": key} if key else {})
    return client.post(
        f"/v1/patients/{patient}/reconciliations/{proposal_id}/decisions",
        json={"decisions": decisions},
        headers=headers,
    )


def test_a_gp_snapshot_is_stored_verbatim_and_reconciled(gp: httpx.Client, lists: ListClient) -> None:
    patient = _patient_with_sarotex(lists)
    raw = orjson.dumps(GP_SNAPSHOT)
    response = gp.post(
        f"/v1/patients/{patient}/source-snapshots", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    outcome = response.json()
    assert outcome["interpretation"] == "proposed"
    assert response.headers["location"].endswith(outcome["snapshot"]["id"])
    findings = _findings(outcome)
    assert set(findings) == {"unchanged", "new_in_source", "unresolved_free_text"}
    assert findings["unchanged"]["evidence"]["match"]["rule"] == "same_product"
    assert findings["new_in_source"]["action"]["entry"]["display_name"] == "Kodimagnyl"
    assert findings["unresolved_free_text"]["needs_review"] is True
    stored = gp.get(response.headers["location"]).json()
    assert stored["document"] == GP_SNAPSHOT
    assert stored["actor"]["hpr_number"] == "9144889"
    assert stored["sha256"] == hashlib.sha256(raw).hexdigest()


def test_the_envelope_is_strict_and_the_entries_liberal(gp: httpx.Client) -> None:
    patient = new_patient_id()
    liberal = {
        "source": "home_care",
        "kind": "medication_list",
        "entries": [{"name": 17, "strength": 2.5, "whatever": [1, 2, {"x": None}]}, {}],
    }
    assert _submit(gp, patient, liberal).status_code == 201
    refused = [
        GP_SNAPSHOT | {"sorce": "gp"},
        GP_SNAPSHOT | {"kind": "dispensing"},
        GP_SNAPSHOT | {"source": "patient"},
        GP_SNAPSHOT | {"entries": [{"name": "x"}] * 201},
        GP_SNAPSHOT | {"entries": [{f"f{i}": i for i in range(41)}]},
        GP_SNAPSHOT | {"entries": [{"name": "x" * 501}]},
    ]
    for body in refused:
        response = _submit(gp, patient, body)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
    too_large = GP_SNAPSHOT | {"entries": [{"name": "Tran", "note": "x" * 1900}] * 150}
    assert _submit(gp, patient, too_large).status_code == 413


def test_who_may_submit_read_and_decide(live_server: ServerProcess, server_settings: Settings) -> None:
    patient = new_patient_id()
    dispensing = {"source": "pharmacy", "kind": "dispensing", "entries": []}
    home_care = {"source": "home_care", "kind": "medication_list", "entries": []}
    system = DevelopmentClaims(subject="akson-dips", role="system", scopes=("list:read", "snapshot:submit"))
    with (
        _client(live_server, server_settings, _person("pharmacist", "pharmacy")) as pharmacist,
        _client(live_server, server_settings, _person("nurse", "home_care")) as nurse,
        _client(live_server, server_settings, system) as dips,
    ):
        assert _submit(pharmacist, patient, dispensing).status_code == 201
        assert _submit(pharmacist, patient, home_care).status_code == 403
        assert _submit(nurse, patient, home_care).status_code == 201
        assert _submit(nurse, patient, GP_SNAPSHOT).status_code == 403
        assert (
            _submit(dips, patient, {"source": "hospital", "kind": "admission", "entries": []}).status_code
            == 201
        )
        assert nurse.get(f"/v1/patients/{patient}/reconciliations").status_code == 403
        assert pharmacist.get(f"/v1/patients/{patient}/reconciliations/decisions").status_code == 403


def test_a_pharmacy_dispensing_records_the_date_by_policy(
    live_server: ServerProcess, server_settings: Settings, lists: ListClient, gp: httpx.Client
) -> None:
    patient = _patient_with_sarotex(lists)
    body = {
        "source": "pharmacy",
        "kind": "dispensing",
        "sender_system": "FarmaPro",
        "entries": [
            {
                "varenr": SAROTEX_25_VARENR,
                "name": "Sarotex tab 25 mg",
                "dispensed_on": "2026-11-19",
                "dose_text": "1 tablett om kvelden",
                "quantity": "100 stk",
            }
        ],
    }
    with _client(live_server, server_settings, _person("pharmacist", "pharmacy")) as pharmacist:
        outcome = _submit(pharmacist, patient, body).json()
    assert [f["state"] for f in outcome["proposal"]["findings"]] == ["auto_applied"]
    listed = lists.read(patient).json()
    assert listed["version"] == 2
    assert listed["entries"][0]["last_dispensed_on"] == "2026-11-19"
    change = lists.http.get(lists.path(patient, "/history")).json()["changes"][0]
    assert change["provenance"]["policy"] == "dispensing_updates_last_dispensed"
    history = gp.get(f"/v1/patients/{patient}/reconciliations/decisions").json()["decisions"]
    assert [(d["decision"], d["actor"]["role"]) for d in history] == [("auto", "pharmacist")]


def test_a_dispensing_that_contradicts_its_own_strength_waits_for_a_prescriber(
    live_server: ServerProcess, server_settings: Settings, lists: ListClient
) -> None:
    """The strength field matches the list, the name does not: the policy leaves it, the finding says why."""
    patient = _patient_with_sarotex(lists)
    sent = {
        "varenr": SAROTEX_25_VARENR,
        "name": "Sarotex 10mg",
        "strength": "25 mg",
        "dispensed_on": "2026-11-19",
    }
    body = {"source": "pharmacy", "kind": "dispensing", "entries": [sent]}
    with _client(live_server, server_settings, _person("pharmacist", "pharmacy")) as pharmacist:
        response = _submit(pharmacist, patient, body)
    assert response.status_code == 201, response.text
    [finding] = response.json()["proposal"]["findings"]
    assert (finding["finding_class"], finding["state"]) == ("unchanged", "open")
    assert finding["needs_review"] is True
    assert finding["action"]["kind"] == "record_dispensing"
    resolution = finding["evidence"]["source_entry"]["resolution"]
    assert resolution["strength_conflict"] == {"strength_field": "25 mg", "name": "10mg"}
    assert finding["evidence"]["differences"] == [
        "the source disagrees with itself about strength: 25 mg in the strength field, 10mg in the name"
    ]
    assert finding["evidence"]["list_entry"]["resolution"]["strength_conflict"] is None
    assert lists.read(patient).json()["version"] == 1


def test_decisions_need_if_match_apply_once_and_are_replayed(gp: httpx.Client, lists: ListClient) -> None:
    patient = _patient_with_sarotex(lists)
    outcome = _submit(gp, patient, GP_SNAPSHOT).json()
    proposal_id = outcome["proposal"]["id"]
    new = _findings(outcome)["new_in_source"]["id"]
    accept = [{"finding_id": new, "decision": "accept"}]
    missing_if_match = gp.post(
        f"/v1/patients/{patient}/reconciliations/{proposal_id}/decisions", json={"decisions": accept}
    )
    assert missing_if_match.status_code == 428
    key = f"decide-{uuid.uuid4()}"
    first = _decide(gp, patient, proposal_id, 1, accept, key=key)
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"2"'
    decision = first.json()["decisions"][0]
    assert (decision["decision"], decision["list_version_after"]) == ("accept", 2)
    replay = _decide(gp, patient, proposal_id, 1, accept, key=key)
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert lists.version(patient) == 2
    change = lists.http.get(lists.path(patient, "/history")).json()["changes"][0]
    assert change["provenance"]["finding_id"] == new
    assert change["provenance"]["decision_id"] == decision["id"]
    again = _decide(gp, patient, proposal_id, 2, accept)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/finding-not-open")


def test_a_proposal_behind_the_list_is_re_evaluated_and_shown_not_applied(
    gp: httpx.Client, lists: ListClient
) -> None:
    patient = _patient_with_sarotex(lists)
    outcome = _submit(gp, patient, GP_SNAPSHOT).json()
    proposal_id, new = outcome["proposal"]["id"], _findings(outcome)["new_in_source"]["id"]
    other = SAROTEX | {"display_name": "Amitriptylin Orifarm tab 10 mg", "strength": "10 mg"}
    assert lists.add(patient, other, version=1).status_code == 201
    accept = [{"finding_id": new, "decision": "accept"}]
    assert _decide(gp, patient, proposal_id, 1, accept).status_code == 412
    stale = _decide(gp, patient, proposal_id, 2, accept)
    assert stale.status_code == 409
    assert stale.json()["type"].endswith("/proposal-stale")
    problem = stale.json()
    assert problem["current_version"] == 2
    assert problem["proposal"]["list_version"] == 2
    assert new in {f["id"] for f in problem["proposal"]["findings"] if f["state"] == "open"}
    assert lists.version(patient) == 2
    applied = _decide(gp, patient, proposal_id, 2, accept)
    assert applied.status_code == 200
    assert lists.version(patient) == 3


def test_open_proposals_a_proposal_and_the_decision_history_can_be_read(
    gp: httpx.Client, lists: ListClient
) -> None:
    patient = _patient_with_sarotex(lists)
    outcome = _submit(gp, patient, GP_SNAPSHOT).json()
    proposal_id = outcome["proposal"]["id"]
    listed = gp.get(f"/v1/patients/{patient}/reconciliations").json()["proposals"]
    assert [p["id"] for p in listed] == [proposal_id]
    assert listed[0]["open_findings"] >= 2
    assert gp.get(f"/v1/patients/{patient}/reconciliations/{proposal_id}").json()["findings"]
    tran = _findings(outcome)["unresolved_free_text"]["id"]
    _decide(
        gp, patient, proposal_id, 1, [{"finding_id": tran, "decision": "reject", "note": "ikke legemiddel"}]
    )
    history = gp.get(
        f"/v1/patients/{patient}/reconciliations/decisions", params={"proposal_id": proposal_id}
    ).json()["decisions"]
    assert [(d["decision"], d["note"]) for d in history] == [("reject", "ikke legemiddel")]
    assert gp.get(f"/v1/patients/{patient}/reconciliations/{uuid.uuid4()}").status_code == 404


def test_a_retried_submission_returns_the_first_snapshot_and_proposal(gp: httpx.Client) -> None:
    patient, key = new_patient_id(), f"snap-{uuid.uuid4()}"
    first = _submit(gp, patient, GP_SNAPSHOT, **{"Idempotency-Key": key}).json()
    second = _submit(gp, patient, GP_SNAPSHOT, **{"Idempotency-Key": key}).json()
    assert (second["snapshot"]["id"], second["proposal"]["id"]) == (
        first["snapshot"]["id"],
        first["proposal"]["id"],
    )
    reused = _submit(gp, patient, GP_SNAPSHOT | {"entries": []}, **{"Idempotency-Key": key})
    assert reused.status_code == 422
    assert reused.json()["type"].endswith("/idempotency-key-reused")


def _race(deciding: httpx.Client, writing: httpx.Client, lists: ListClient) -> tuple[str, dict[str, int]]:
    """A decision and another write, both against list version 1, released at the same moment."""
    patient = _patient_with_sarotex(lists)
    outcome = _submit(deciding, patient, GP_SNAPSHOT).json()
    accept = [{"finding_id": _findings(outcome)["new_in_source"]["id"], "decision": "accept"}]
    other = SAROTEX | {"display_name": "Amitriptylin Abcur tab 10 mg", "strength": "10 mg"}
    barrier, statuses = threading.Barrier(2), {}

    def decide() -> None:
        barrier.wait(10)
        statuses["decision"] = _decide(deciding, patient, outcome["proposal"]["id"], 1, accept).status_code

    def write() -> None:
        barrier.wait(10)
        response = writing.post(lists.path(patient, "/entries"), json=other, headers={"If-Match": '"1"'})
        statuses["write"] = response.status_code

    threads = [threading.Thread(target=decide), threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return patient, statuses


def test_a_decision_racing_another_write_leaves_exactly_one_of_them_applied(
    live_server: ServerProcess, server_settings: Settings, lists: ListClient
) -> None:
    with _client(live_server, server_settings) as deciding, _client(live_server, server_settings) as writing:
        for _round in range(3):
            patient, statuses = _race(deciding, writing, lists)
            assert sorted(statuses.values()) in ([200, 412], [201, 412]), statuses
            assert lists.version(patient) == 2
