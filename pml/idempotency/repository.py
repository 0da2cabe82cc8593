"""Stored first responses. Looked up and saved inside the write's own transaction, under the patient's lock,
so a retry racing its original either sees the committed response or waits for it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import Executable, Result, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from pml.db.engine import execute_core
from pml.idempotency.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from pml.idempotency.models import IdempotencyRecordRow


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    headers: dict[str, str]
    body: bytes


def request_fingerprint(method: str, path: str, body: object) -> str:
    """A hash of what the request asks for; the same JSON with other spacing or key order is the same."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a look-up of a key found (`record` None: nothing), when another statement already did it (the
    list write's lock statement does, to save a round trip)."""

    record: StoredRecord | None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    request_hash: str
    response: StoredResponse


class _RecordRow(Protocol):
    request_hash: str | None
    status_code: int | None
    response_headers: dict[str, str] | None
    response_body: bytes | None


# The key's record as columns another statement can select too (see `record_from_row`).
RECORD_KEY: BindParameter[str] = bindparam("record_key")
RECORD_COLUMNS = (
    IdempotencyRecordRow.request_hash,
    IdempotencyRecordRow.status_code,
    IdempotencyRecordRow.response_headers,
    IdempotencyRecordRow.response_body,
)
FIND = select(*RECORD_COLUMNS).where(
    IdempotencyRecordRow.patient_id == bindparam("record_patient_id"),
    IdempotencyRecordRow.idempotency_key == RECORD_KEY,
)
# DO NOTHING and no row back, rather than a unique violation: the key's owner committed first.
SAVE = (
    pg_insert(IdempotencyRecordRow)
    .values(
        patient_id=bindparam("record_patient_id"),
        idempotency_key=bindparam("record_key"),
        request_hash=bindparam("record_request_hash"),
        status_code=bindparam("record_status_code"),
        response_headers=bindparam("record_response_headers"),
        response_body=bindparam("record_response_body"),
    )
    .on_conflict_do_nothing()
    .returning(IdempotencyRecordRow.status_code)
)


def record_from_row(row: _RecordRow | None) -> StoredRecord | None:
    """The record in a row holding `RECORD_COLUMNS` (all None when an outer join found no record)."""
    if row is None or row.request_hash is None:
        return None
    assert row.status_code is not None, "the columns are NOT NULL"
    assert row.response_headers is not None, "the columns are NOT NULL"
    assert row.response_body is not None, "the columns are NOT NULL"
    response = StoredResponse(row.status_code, dict(row.response_headers), row.response_body)
    return StoredRecord(row.request_hash, response)


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _execute(self, statement: Executable, parameters: dict[str, Any]) -> Result[Any]:
        return await execute_core(self._session, statement, parameters)

    async def replay(
        self, patient_id: str, key: str, fingerprint: str, *, looked_up: Lookup | None = None
    ) -> StoredResponse | None:
        """The stored response for `key`, or None; a different request under the same key is refused.
        `looked_up` is a look-up already made in this transaction under the same lock."""
        if looked_up is None:
            key_of = {"record_patient_id": patient_id, "record_key": key}
            looked_up = Lookup(record_from_row((await self._execute(FIND, key_of)).first()))
        record = looked_up.record
        if record is None:
            return None
        if record.request_hash != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was first used with a different request; "
                "use a new key for a new request"
            )
        return record.response

    async def save(self, patient_id: str, key: str, fingerprint: str, response: StoredResponse) -> None:
        saved = await self._execute(
            SAVE,
            {
                "record_patient_id": patient_id,
                "record_key": key,
                "record_request_hash": fingerprint,
                "record_status_code": response.status_code,
                "record_response_headers": response.headers,
                "record_response_body": response.body,
            },
        )
        if saved.first() is None:
            # Two requests under different locks (e.g. a list write and an administration) raced on one key.
            raise IdempotencyKeyInUse(
                "another request with this Idempotency-Key was processed at the same moment; nothing was "
                "changed by this one. Retry it: you will get the first request's response, "
                "or a 422 if it differs"
            )
