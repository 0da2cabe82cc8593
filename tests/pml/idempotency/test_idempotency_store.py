"""The idempotency store directly against PostgreSQL: a key saved twice (two requests that raced under
different locks) is a clear 409 for the second, and the first stored response stays."""

from __future__ import annotations

import asyncio

import pytest

from pml.db.engine import Database
from pml.idempotency.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from pml.idempotency.repository import IdempotencyRepository, StoredResponse, request_fingerprint
from pml.settings import Settings
from tests.support.factories import new_patient_id

FIRST = StoredResponse(201, {"etag": '"1"'}, b'{"first": true}')


async def _save(database: Database, patient_id: str, key: str, fingerprint: str) -> None:
    async with database.write_transaction() as session:
        await IdempotencyRepository(session).save(patient_id, key, fingerprint, FIRST)


async def _replay(database: Database, patient_id: str, key: str, fingerprint: str) -> StoredResponse | None:
    async with database.read_transaction() as session:
        return await IdempotencyRepository(session).replay(patient_id, key, fingerprint)


def test_a_key_saved_twice_is_a_409_and_the_first_response_stays(database_url: str) -> None:
    async def scenario() -> None:
        database = Database.from_settings(Settings(database_url=database_url), database_url)
        patient_id, key = new_patient_id(), "raced-key-0001"
        fingerprint = request_fingerprint("POST", "/x", {"a": 1})
        await _save(database, patient_id, key, fingerprint)
        with pytest.raises(IdempotencyKeyInUse):
            await _save(database, patient_id, key, fingerprint)
        assert await _replay(database, patient_id, key, fingerprint) == FIRST
        with pytest.raises(IdempotencyKeyReused):
            await _replay(database, patient_id, key, request_fingerprint("POST", "/x", {"a": 2}))
        await database.dispose()

    asyncio.run(scenario())


def test_the_fingerprint_ignores_key_order_but_not_values() -> None:
    assert request_fingerprint("POST", "/p", {"a": 1, "b": 2}) == request_fingerprint(
        "POST", "/p", {"b": 2, "a": 1}
    )
    assert request_fingerprint("POST", "/p", {"a": 1}) != request_fingerprint("POST", "/p", {"a": 2})
    assert request_fingerprint("POST", "/p", {"a": 1}) != request_fingerprint("PATCH", "/p", {"a": 1})
