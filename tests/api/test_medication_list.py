"""The medication list over real HTTP: reads, writes, versions, history, as-of and delta sync."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from tests.support.client import ListClient
from tests.support.factories import entry_body, new_patient_id


def _add(lists: ListClient, patient_id: str, version: int, **fields: Any) -> dict[str, Any]:
    response = lists.add(patient_id, entry_body(**fields), version=version)
    assert response.status_code == 201, response.text
    outcome: dict[str, Any] = response.json()
    return outcome


def test_a_patient_without_changes_has_an_empty_list_at_version_0(lists: ListClient) -> None:
    response = lists.read(new_patient_id())
    assert response.status_code == 200
    assert response.headers["etag"] == '"0"'
    assert response.json()["entries"] == []
    assert response.json()["reviewed"] is None


def test_adding_an_entry_moves_the_version_and_returns_it(lists: ListClient) -> None:
    patient_id = new_patient_id()
    response = lists.add(patient_id, entry_body(display_name="Metformin 500 mg"), version=0)
    assert response.status_code == 201
    assert response.headers["etag"] == '"1"'
    outcome = response.json()
    assert outcome["entry"]["display_name"] == "Metformin 500 mg"
    assert outcome["entry"]["status"] == "active"
    assert response.headers["location"].endswith(outcome["entry"]["id"])
    stored = lists.read(patient_id).json()
    assert stored["version"] == 1
    assert [e["id"] for e in stored["entries"]] == [outcome["entry"]["id"]]
    assert stored["entries"][0]["dosage"]["schedule"][0] == {
        "time_of_day": "morning", "clock_time": None, "amount": "1"
    }


def test_if_none_match_with_the_current_etag_gives_304(lists: ListClient) -> None:
    patient_id = new_patient_id()
    _add(lists, patient_id, 0)
    assert lists.read(patient_id, **{"If-None-Match": '"1"'}).status_code == 304
    assert lists.read(patient_id, **{"If-None-Match": '"0"'}).status_code == 200


def test_changing_an_entry_keeps_untouched_fields(lists: ListClient) -> None:
    patient_id = new_patient_id()
    entry = _add(lists, patient_id, 0)["entry"]
    response = lists.write(
        "PATCH", patient_id, f"/entries/{entry['id']}",
        {"dose_text": "1 tablett morgen", "dosage": {"unit": "tablett", "schedule": [
            {"time_of_day": "morning", "amount": 1}]}, "reason": "redusert dose"},
        version=1,
    )
    assert response.status_code == 200, response.text
    changed = response.json()["entry"]
    assert changed["dose_text"] == "1 tablett morgen"
    assert changed["display_name"] == entry["display_name"]
    assert (changed["created_version"], changed["updated_version"]) == (1, 2)


def test_stop_pause_resume_follow_the_allowed_transitions(lists: ListClient) -> None:
    patient_id = new_patient_id()
    entry_id = _add(lists, patient_id, 0)["entry"]["id"]
    paused = lists.write("POST", patient_id, f"/entries/{entry_id}/pause", {"reason": "operasjon"}, version=1)
    assert paused.json()["entry"]["status"] == "paused"
    resumed = lists.write("POST", patient_id, f"/entries/{entry_id}/resume", {}, version=2)
    assert resumed.json()["entry"]["status"] == "active"
    resumed_again = lists.write("POST", patient_id, f"/entries/{entry_id}/resume", {}, version=3)
    assert resumed_again.status_code == 409
    assert resumed_again.json()["type"].endswith("/invalid-status-transition")
    stopped = lists.write(
        "POST", patient_id, f"/entries/{entry_id}/stop", {"reason": "bivirkning"}, version=3
    )
    stopped_entry = stopped.json()["entry"]
    assert (stopped_entry["status"], stopped_entry["status_reason"]) == ("stopped", "bivirkning")
    changed_after_stop = lists.write("PATCH", patient_id, f"/entries/{entry_id}", {"note": "x"}, version=4)
    assert changed_after_stop.status_code == 409
    assert lists.version(patient_id) == 4


def test_stop_requires_a_reason(lists: ListClient) -> None:
    patient_id = new_patient_id()
    entry_id = _add(lists, patient_id, 0)["entry"]["id"]
    response = lists.write("POST", patient_id, f"/entries/{entry_id}/stop", {}, version=1)
    assert response.status_code == 422
    assert lists.version(patient_id) == 1


def test_an_unknown_entry_is_404_and_changes_nothing(lists: ListClient) -> None:
    patient_id = new_patient_id()
    _add(lists, patient_id, 0)
    response = lists.write("POST", patient_id, f"/entries/{uuid.uuid4()}/pause", {}, version=1)
    assert response.status_code == 404
    assert response.json()["type"].endswith("/entry-not-found")
    assert lists.version(patient_id) == 1


def test_review_marker_records_who_when_and_at_which_version(lists: ListClient) -> None:
    patient_id = new_patient_id()
    _add(lists, patient_id, 0)
    response = lists.write("POST", patient_id, "/review", {"note": "gjennomgått med pasienten"}, version=1)
    assert response.status_code == 200, response.text
    reviewed = lists.read(patient_id).json()["reviewed"]
    assert reviewed["version"] == 2
    assert reviewed["by"]["hpr_number"] == "9144889"
    assert dt.datetime.fromisoformat(reviewed["at"]) <= dt.datetime.now(dt.UTC)


def test_history_pages_newest_first_with_before_and_after_images(lists: ListClient) -> None:
    patient_id = new_patient_id()
    entry_id = _add(lists, patient_id, 0)["entry"]["id"]
    for version in range(1, 5):
        lists.write("PATCH", patient_id, f"/entries/{entry_id}", {"note": f"note {version}"}, version=version)
    first = lists.http.get(lists.path(patient_id, "/history"), params={"limit": 2}).json()
    assert [c["version"] for c in first["changes"]] == [5, 4]
    assert first["changes"][0]["before"]["note"] == "note 3"
    assert first["changes"][0]["after"]["note"] == "note 4"
    second = lists.http.get(
        lists.path(patient_id, "/history"),
        params={"limit": 2, "before_version": first["next_before_version"]},
    ).json()
    assert [c["version"] for c in second["changes"]] == [3, 2]
    last = lists.http.get(
        lists.path(patient_id, "/history"),
        params={"limit": 2, "before_version": second["next_before_version"]},
    ).json()
    assert [c["version"] for c in last["changes"]] == [1]
    assert last["changes"][0]["action"] == "add"
    assert last["next_before_version"] is None


def test_the_list_at_a_version_is_rebuilt_from_history(lists: ListClient) -> None:
    patient_id = new_patient_id()
    first = _add(lists, patient_id, 0, display_name="A")["entry"]["id"]
    _add(lists, patient_id, 1, display_name="B")
    lists.write("POST", patient_id, f"/entries/{first}/stop", {"reason": "seponert"}, version=2)
    at_two = lists.http.get(lists.path(patient_id, "/versions/2")).json()
    assert [(e["display_name"], e["status"]) for e in at_two["entries"]] == [("A", "active"), ("B", "active")]
    at_three = lists.http.get(lists.path(patient_id, "/versions/3")).json()
    assert at_three["entries"] == lists.read(patient_id).json()["entries"]
    assert lists.http.get(lists.path(patient_id, "/versions/4")).status_code == 404


def test_the_list_as_of_a_time_shows_what_was_there_then(lists: ListClient) -> None:
    patient_id = new_patient_id()
    _add(lists, patient_id, 0, display_name="A")
    time.sleep(0.05)
    between = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    _add(lists, patient_id, 1, display_name="B")
    then = lists.http.get(lists.path(patient_id, "/as-of"), params={"at": between.isoformat()}).json()
    assert then["version"] == 1
    assert [e["display_name"] for e in then["entries"]] == ["A"]
    before_anything = lists.http.get(
        lists.path(patient_id, "/as-of"), params={"at": "2000-01-01T00:00:00+00:00"}
    ).json()
    assert before_anything["version"] == 0
    assert before_anything["entries"] == []
    naive = lists.http.get(lists.path(patient_id, "/as-of"), params={"at": "2026-01-01T00:00:00"})
    assert naive.status_code == 422


def test_changes_since_gives_the_delta_in_order(lists: ListClient) -> None:
    patient_id = new_patient_id()
    for version in range(3):
        _add(lists, patient_id, version, display_name=f"E{version}")
    delta = lists.http.get(lists.path(patient_id, "/changes"), params={"since": 1}).json()
    assert [c["version"] for c in delta["changes"]] == [2, 3]
    assert delta["current_version"] == 3
    assert delta["has_more"] is False
    paged = lists.http.get(lists.path(patient_id, "/changes"), params={"since": 0, "limit": 2}).json()
    assert [c["version"] for c in paged["changes"]] == [1, 2]
    assert paged["has_more"] is True
    assert lists.http.get(lists.path(patient_id, "/changes"), params={"since": 9}).status_code == 404


def test_a_write_without_if_match_is_428_and_changes_nothing(lists: ListClient) -> None:
    patient_id = new_patient_id()
    response = lists.add(patient_id, entry_body(), version=None)  # type: ignore[arg-type]
    assert response.status_code == 428
    assert response.headers["content-type"] == "application/problem+json"
    assert lists.version(patient_id) == 0


def test_a_stale_if_match_is_412_with_the_current_list(lists: ListClient) -> None:
    patient_id = new_patient_id()
    _add(lists, patient_id, 0, display_name="A")
    response = lists.add(patient_id, entry_body(display_name="B"), version=0)
    assert response.status_code == 412
    problem = response.json()
    assert problem["type"].endswith("/version-conflict")
    assert problem["current_version"] == 1
    assert [e["display_name"] for e in problem["current_list"]["entries"]] == ["A"]
    assert lists.version(patient_id) == 1


def test_a_retried_write_with_the_same_key_returns_the_first_response(lists: ListClient) -> None:
    patient_id = new_patient_id()
    key = f"retry-{uuid.uuid4()}"
    first = lists.add(patient_id, entry_body(), version=0, key=key)
    # The retry still says If-Match 0: its first attempt is what moved the list to 1.
    retry = lists.add(patient_id, entry_body(), version=0, key=key)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert lists.version(patient_id) == 1


def test_the_same_key_with_a_different_body_is_422(lists: ListClient) -> None:
    patient_id = new_patient_id()
    key = f"reuse-{uuid.uuid4()}"
    lists.add(patient_id, entry_body(display_name="A"), version=0, key=key)
    response = lists.add(patient_id, entry_body(display_name="B"), version=1, key=key)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/idempotency-key-reused")
    assert lists.version(patient_id) == 1


def test_the_list_size_limit_is_a_422_problem(lists: ListClient) -> None:
    patient_id = new_patient_id()
    limit = 40  # the test server's PML_MAX_LIST_ENTRIES
    for version in range(limit):
        _add(lists, patient_id, version)
    response = lists.add(patient_id, entry_body(), version=limit)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/list-too-large")
    assert lists.version(patient_id) == limit


def test_openapi_and_health_are_served(lists: ListClient) -> None:
    spec = lists.http.get("/v1/openapi.json").json()
    assert "/v1/patients/{patient_id}/medication-list" in spec["paths"]
    assert lists.http.get("/health/live").json() == {"status": "live"}
    assert lists.http.get("/health/ready").json()["checks"]["database"] == "ok"
    assert lists.http.get("/v1/docs").status_code == 200
