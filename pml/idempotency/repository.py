"""Stored first responses. Looked up and saved inside the write's own transaction, under the patient's lock,
so a retry racing its original either sees the committed response or waits for it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Executable, Result, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

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


_KEY = (
    IdempotencyRecordRow.patient_id == bindparam("record_patient_id"),
    IdempotencyRecordRow.idempotency_key == bindparam("record_key"),
)
FIND = select(
    IdempotencyRecordRow.request_hash,
    IdempotencyRecordRow.status_code,
    IdempotencyRecordRow.response_headers,
    IdempotencyRecordRow.response_body,
).where(*_KEY)
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


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _execute(self, statement: Executable, parameters: dict[str, Any]) -> Result[Any]:
        """Core statements on the session's connection, in its transaction, without the ORM's path."""
        connection = await self._session.connection()
        return await connection.execute(statement, parameters)

    async def replay(self, patient_id: str, key: str, fingerprint: str) -> StoredResponse | None:
        """The stored response for `key`, or None; a different request under the same key is refused."""
        key_of = {"record_patient_id": patient_id, "record_key": key}
        row = (await self._execute(FIND, key_of)).first()
        if row is None:
            return None
        if row.request_hash != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was first used with a different request; "
                "use a new key for a new request"
            )
        return StoredResponse(row.status_code, dict(row.response_headers), row.response_body)

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
