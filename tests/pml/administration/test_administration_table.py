"""The administration_record table as the migration builds it: append-only whatever the application does, one
correction per record, and the outcome rules held by the database too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pml.auth.tokens import DevelopmentClaims
from pml.db.urls import libpq_url
from pml.settings import Settings
from tests.support.client import ListClient, make_token
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess

NURSE = DevelopmentClaims(subject="table-nurse", role="nurse", hpr_number="9144890", source="home_care")


@pytest.fixture(scope="module")
def nurse(live_server: ServerProcess, server_settings: Settings) -> Iterator[ListClient]:
    client = ListClient(live_server.base_url, make_token(server_settings, NURSE))
    yield client
    client.close()


@pytest.fixture
def recorded(lists: ListClient, nurse: ListClient) -> dict[str, Any]:
    """One administration record, made through the API."""
    patient_id = new_patient_id()
    entry = lists.add(patient_id, entry_body(), version=0).json()["entry"]
    response = nurse.http.post(
        f"/v1/patients/{patient_id}/administrations",
        json={
            "entry_id": entry["id"],
            "outcome": "given",
            "occurred_at": "2026-02-10T08:05:00+01:00",
            "scheduled_at": "2026-02-10T08:00:00+01:00",
            "list_version": 1,
        },
    )
    assert response.status_code == 201, response.text
    saved: dict[str, Any] = response.json()
    return saved


@pytest.fixture
def connection(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        yield conn


def count(conn: psycopg.Connection[Any], patient_id: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM administration_record WHERE patient_id = %s", (patient_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE administration_record SET outcome = 'not_given', reason = 'refused' WHERE patient_id = %s",
        "UPDATE administration_record SET flagged_for_review = false WHERE patient_id = %s",
        "DELETE FROM administration_record WHERE patient_id = %s",
    ],
)
def test_records_cannot_be_rewritten_or_deleted(
    recorded: dict[str, Any], connection: psycopg.Connection[Any], statement: str
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        connection.execute(statement, (recorded["patient_id"],))
    connection.rollback()
    assert count(connection, recorded["patient_id"]) == 1


def test_the_table_cannot_be_truncated(connection: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        connection.execute("TRUNCATE administration_record")


def _copy_of(recorded: dict[str, Any], **changes: Any) -> tuple[str, Any]:
    """An INSERT of a new row like `recorded`, with `changes` applied."""
    values = {
        "patient_id": recorded["patient_id"],
        "record_id": str(uuid.uuid4()),
        "entry_id": recorded["entry_id"],
        "dose_at": recorded["dose_at"],
        "outcome": "given",
        "reason": None,
        "amount": None,
        "occurred_at": recorded["occurred_at"],
        "recorded_by": '{"subject": "sql", "role": "nurse"}',
        "actor_subject": "sql",
        "list_version": 1,
        "corrects_record_id": recorded["record_id"],
        "flagged_for_review": False,
        "review_reasons": "[]",
        "entry_snapshot": "{}",
    } | changes
    columns = ", ".join(values)
    placeholders = ", ".join(["%s"] * len(values))
    statement = f"INSERT INTO administration_record ({columns}) VALUES ({placeholders})"  # noqa: S608 - our column names
    return statement, tuple(values.values())


def test_a_record_is_corrected_at_most_once_even_bypassing_the_service(
    recorded: dict[str, Any], connection: psycopg.Connection[Any]
) -> None:
    connection.execute(*_copy_of(recorded))
    with pytest.raises(psycopg.errors.UniqueViolation):
        connection.execute(*_copy_of(recorded))
    connection.rollback()


@pytest.mark.parametrize(
    "changes",
    [
        {"outcome": "not_given"},  # without a reason
        {"outcome": "given", "reason": "refused"},
        {"outcome": "partly_given"},  # without an amount
        {"outcome": "entered_in_error", "corrects_record_id": None},
        {"outcome": "lost"},
        {"list_version": -1},
        {"corrects_record_id": str(uuid.uuid4())},  # not a record of this patient
        {"entry_id": str(uuid.uuid4())},  # not an entry of this patient's list
    ],
)
def test_the_database_holds_the_outcome_rules(
    recorded: dict[str, Any], connection: psycopg.Connection[Any], changes: dict[str, Any]
) -> None:
    with pytest.raises((psycopg.errors.CheckViolation, psycopg.errors.ForeignKeyViolation)):
        connection.execute(*_copy_of(recorded, **changes))
    connection.rollback()
