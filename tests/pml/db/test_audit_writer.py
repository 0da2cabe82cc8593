"""The audit writer keeps one connection of the log pool. When PostgreSQL drops that connection, the next
batch is sent again on a new one and every record lands exactly once; a batch that cannot be written fails
every request waiting on it."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from pml.audit.schemas import AuditEvent, Outcome
from pml.audit.writer import AuditWriter
from pml.db.engine import Database
from pml.db.urls import libpq_url
from pml.settings import Settings
from tests.support.factories import new_patient_id


def _event(patient_id: str, request_id: str) -> AuditEvent:
    return AuditEvent(
        patient_id=patient_id, actor_subject="writer-test", actor_name="Test Testesen", actor_hpr="1234567",
        role="nurse", organisation="974703300", action="read_list", purpose="TREAT", emergency=False,
        emergency_reason=None, outcome=Outcome.SUCCESS, status_code=200, request_id=request_id,
    )


def _recorded(database_url: str, patient_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT request_id, outcome FROM audit_record WHERE patient_id = %s ORDER BY request_id",
            (patient_id,),
        )
        return [(str(request_id), str(outcome)) for request_id, outcome in rows]


def _drop_log_connections(database_url: str) -> int:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        dropped = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'pml-log' AND datname = current_database()"
        ).fetchone()
    return int(dropped[0]) if dropped else 0


async def _write_drop_write(database_url: str, patient_id: str) -> int:
    database = Database.from_settings(Settings(database_url=database_url), database_url)
    writer = AuditWriter(database)
    try:
        await asyncio.gather(*(writer.record(_event(patient_id, f"before-{n}")) for n in range(3)))
        dropped = await asyncio.to_thread(_drop_log_connections, database_url)
        await asyncio.gather(*(writer.record(_event(patient_id, f"after-{n}")) for n in range(3)))
    finally:
        await writer.close()
        await database.dispose()
    return dropped


def test_a_dropped_log_connection_is_replaced_and_each_record_lands_once(database_url: str) -> None:
    patient_id = new_patient_id()
    dropped = asyncio.run(_write_drop_write(database_url, patient_id))
    assert dropped >= 1  # the writer's kept connection really was cut
    expected = [(f"{when}-{n}", "success") for when in ("after", "before") for n in range(3)]
    assert _recorded(database_url, patient_id) == expected


async def _write_with_bad_event(database_url: str, patient_id: str) -> list[BaseException | None]:
    database = Database.from_settings(Settings(database_url=database_url), database_url)
    writer = AuditWriter(database)
    too_long = _event(patient_id, "x" * 200)  # request_id is at most 128 characters in the table
    try:
        results = await asyncio.gather(
            writer.record(_event(patient_id, "fine")), writer.record(too_long), return_exceptions=True
        )
    finally:
        await writer.close()
        await database.dispose()
    return list(results)


def test_a_batch_that_cannot_be_written_fails_every_request_in_it(database_url: str) -> None:
    patient_id = new_patient_id()
    results = asyncio.run(_write_with_bad_event(database_url, patient_id))
    # Both waited on one batch, which is one statement: neither is recorded, so neither may be served.
    assert all(isinstance(result, psycopg.errors.StringDataRightTruncation) for result in results)
    assert _recorded(database_url, patient_id) == []


@pytest.mark.parametrize("size", [1, 50])
def test_batches_of_any_size_keep_every_field(database_url: str, size: int) -> None:
    patient_id = new_patient_id()

    async def write() -> None:
        database = Database.from_settings(Settings(database_url=database_url), database_url)
        writer = AuditWriter(database)
        try:
            await asyncio.gather(*(writer.record(_event(patient_id, f"r{n:03}")) for n in range(size)))
        finally:
            await writer.close()
            await database.dispose()

    asyncio.run(write())
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT actor_subject, actor_name, actor_hpr, role, organisation, action, purpose, emergency, "
            "emergency_reason, outcome, status_code, count(DISTINCT audit_id) FROM audit_record "
            "WHERE patient_id = %s GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11",
            (patient_id,),
        ).fetchall()
    assert rows == [
        ("writer-test", "Test Testesen", "1234567", "nurse", "974703300", "read_list", "TREAT", False, None,
         "success", 200, size)
    ]
