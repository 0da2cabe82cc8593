"""Bad and hostile input: each a 4xx problem+json, never a 500, and nothing partially stored."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.client import ListClient
from tests.support.factories import entry_body, new_patient_id

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"https://pml.akson.no/problems/{slug}"
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    assert "Traceback" not in response.text
    assert "sqlalchemy" not in response.text.lower()
    return problem


@pytest.fixture
def patient_with_one_entry(lists: ListClient) -> tuple[str, str]:
    patient_id = new_patient_id()
    response = lists.add(patient_id, entry_body(), version=0)
    assert response.status_code == 201
    return patient_id, response.json()["entry"]["id"]


def _raw_post(lists: ListClient, patient_id: str, content: bytes, version: int = 1) -> httpx.Response:
    return lists.http.post(
        lists.path(patient_id, "/entries"), content=content,
        headers={"Content-Type": "application/json", "If-Match": f'"{version}"'},
    )


def test_malformed_json_is_422(lists: ListClient, patient_with_one_entry: tuple[str, str]) -> None:
    patient_id, _ = patient_with_one_entry
    assert_problem(_raw_post(lists, patient_id, b'{"display_name": "A", '), 422, "validation-error")
    assert lists.version(patient_id) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("display_name", 12),
        ("start_date", "next tuesday"),
        ("status", "active"),  # status is set by stop/pause/resume, never by a new entry
        ("source", "neighbour"),
        ("prescriber_hpr", "12ab"),
        ("dosage", {"unit": "tablett", "schedule": [{"time_of_day": "teatime", "amount": 1}]}),
        ("dosage", {"unit": "tablett", "schedule": [{"time_of_day": "morning", "amount": -1}]}),
        ("dosage", {"unit": "tablett"}),
        ("product", {"atc": "not-an-atc"}),
        ("display_name", "x" * 201),
    ],
)
def test_wrong_types_and_values_are_422(
    lists: ListClient, patient_with_one_entry: tuple[str, str], field: str, value: Any
) -> None:
    patient_id, _ = patient_with_one_entry
    response = lists.add(patient_id, entry_body(**{field: value}), version=1)
    problem = assert_problem(response, 422, "validation-error")
    assert any(field in error["loc"] for error in problem["errors"])
    assert lists.version(patient_id) == 1


def test_unknown_fields_are_refused_not_dropped(
    lists: ListClient, patient_with_one_entry: tuple[str, str]
) -> None:
    patient_id, entry_id = patient_with_one_entry
    response = lists.add(patient_id, entry_body(dose="2 x 3"), version=1)
    assert_problem(response, 422, "validation-error")
    nested = lists.write(
        "PATCH", patient_id, f"/entries/{entry_id}", {"product": {"atc_code": "A"}}, version=1
    )
    assert_problem(nested, 422, "validation-error")
    assert lists.version(patient_id) == 1


@pytest.mark.parametrize("patient_id", ["12345678901", "1234", "0101000011O", "01010000111"])
def test_a_wrong_national_id_is_422_and_never_stored(lists: ListClient, patient_id: str) -> None:
    assert_problem(lists.read(patient_id), 422, "invalid-national-id")
    assert_problem(lists.add(patient_id, entry_body(), version=0), 422, "invalid-national-id")


def test_dates_out_of_order_are_422_on_add_and_on_change(
    lists: ListClient, patient_with_one_entry: tuple[str, str]
) -> None:
    patient_id, entry_id = patient_with_one_entry
    added = lists.add(patient_id, entry_body(start_date="2026-03-01", end_date="2026-02-01"), version=1)
    assert_problem(added, 422, "validation-error")
    # The stored entry starts 2026-01-05: an end date before it is refused when merged.
    changed = lists.write("PATCH", patient_id, f"/entries/{entry_id}", {"end_date": "2025-12-31"}, version=1)
    assert_problem(changed, 422, "validation-error")
    assert lists.version(patient_id) == 1


def test_an_oversize_body_is_413(lists: ListClient, patient_with_one_entry: tuple[str, str]) -> None:
    patient_id, _ = patient_with_one_entry
    huge = b'{"display_name": "' + b"x" * (300 * 1024) + b'"}'
    assert_problem(_raw_post(lists, patient_id, huge), 413, "body-too-large")
    assert lists.version(patient_id) == 1


def test_an_oversize_body_without_content_length_is_413(
    lists: ListClient, patient_with_one_entry: tuple[str, str]
) -> None:
    patient_id, _ = patient_with_one_entry

    def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 8192

    response = lists.http.post(
        lists.path(patient_id, "/entries"), content=chunks(),
        headers={"Content-Type": "application/json", "If-Match": '"1"'},
    )
    assert_problem(response, 413, "body-too-large")


def test_deeply_nested_json_is_refused_before_parsing(
    lists: ListClient, patient_with_one_entry: tuple[str, str]
) -> None:
    patient_id, _ = patient_with_one_entry
    deep = b'{"note": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_problem(_raw_post(lists, patient_id, deep), 422, "json-too-deep")
    # Brackets inside strings are text, not nesting.
    text = entry_body(note="[" * 100)
    assert lists.add(patient_id, text, version=1).status_code == 201


@pytest.mark.parametrize("if_match", ["*", "abc", '"1", "2"', 'W/"x"'])
def test_an_unusable_if_match_is_428(
    lists: ListClient, patient_with_one_entry: tuple[str, str], if_match: str
) -> None:
    patient_id, _ = patient_with_one_entry
    response = lists.http.post(
        lists.path(patient_id, "/entries"), json=entry_body(), headers={"If-Match": if_match}
    )
    assert_problem(response, 428, "precondition-required")
    assert lists.version(patient_id) == 1


def test_a_bad_idempotency_key_is_422(lists: ListClient, patient_with_one_entry: tuple[str, str]) -> None:
    patient_id, _ = patient_with_one_entry
    assert_problem(lists.add(patient_id, entry_body(), version=1, key="short"), 422, "validation-error")
    assert lists.version(patient_id) == 1


def test_an_entry_id_that_is_not_a_uuid_is_422(
    lists: ListClient, patient_with_one_entry: tuple[str, str]
) -> None:
    patient_id, _ = patient_with_one_entry
    response = lists.write("POST", patient_id, "/entries/not-a-uuid/stop", {"reason": "x"}, version=1)
    assert_problem(response, 422, "validation-error")


def test_no_token_or_a_forged_token_is_401_without_patient_data(
    lists: ListClient, patient_with_one_entry: tuple[str, str]
) -> None:
    patient_id, _ = patient_with_one_entry
    anonymous = httpx.get(f"{lists.http.base_url}{lists.path(patient_id)}")
    assert_problem(anonymous, 401, "unauthorized")
    token = lists.http.headers["Authorization"].removeprefix("Bearer ")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    response = httpx.get(
        f"{lists.http.base_url}{lists.path(patient_id)}", headers={"Authorization": f"Bearer {forged}"}
    )
    problem = assert_problem(response, 401, "unauthorized")
    assert patient_id not in response.text
    assert "entries" not in problem


def test_an_unknown_path_and_method_are_problems(lists: ListClient) -> None:
    assert_problem(lists.http.get(f"/v1/nothing-here/{uuid.uuid4()}"), 404, "not-found")
    assert_problem(lists.http.delete(lists.path(new_patient_id())), 405, "method-not-allowed")


@pytest.mark.parametrize(
    ("suffix", "params"),
    [
        ("/history", {"before_version": str(2**63)}),
        ("/history", {"before_version": str(2**31)}),
        ("/changes", {"since": str(2**40)}),
        ("/versions/99999999999999999999", {}),
        ("/history", {"limit": str(2**40)}),
    ],
)
def test_numbers_beyond_what_a_version_can_be_are_4xx(
    lists: ListClient, patient_with_one_entry: tuple[str, str], suffix: str, params: dict[str, str]
) -> None:
    patient_id, _ = patient_with_one_entry
    response = lists.http.get(lists.path(patient_id, suffix), params=params)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM
