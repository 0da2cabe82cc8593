"""All SQL of the audit log. There is deliberately no update or delete here."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Any

import orjson
import psycopg
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.pool import PoolProxiedConnection

from pml.audit.models import AuditRecordRow
from pml.audit.schemas import AuditEvent, AuditRecord

# One statement for a whole batch, whatever its size: the records travel as one JSON array (serialised in C by
# orjson) and json_to_recordset turns it back into rows. A batch retried after a lost connection carries the
# same audit ids, so ON CONFLICT lands each record exactly once.
_APPEND_BATCH = """
INSERT INTO audit_record (patient_id, audit_id, actor_subject, actor_name, actor_hpr, role, organisation,
                          action, purpose, emergency, emergency_reason, outcome, status_code, request_id)
SELECT patient_id, audit_id, actor_subject, actor_name, actor_hpr, role, organisation,
       action, purpose, emergency, emergency_reason, outcome, status_code, request_id
FROM json_to_recordset(%s::json) AS record(
    patient_id text, audit_id uuid, actor_subject text, actor_name text, actor_hpr text, role text,
    organisation text, action text, purpose text, emergency boolean, emergency_reason text, outcome text,
    status_code integer, request_id text)
ON CONFLICT (patient_id, audit_id) DO NOTHING
"""


class AuditBatch:
    """Audit events with their ids fixed, so writing the batch twice records each event once."""

    def __init__(self, events: list[AuditEvent]) -> None:
        # Random (version 4) UUIDs from one read of the system's random source for the whole batch.
        randomness = os.urandom(16 * len(events))
        self.ids = [uuid.UUID(bytes=randomness[i * 16 : i * 16 + 16], version=4) for i in range(len(events))]
        self.events = events

    def as_json(self) -> str:
        # A pydantic model keeps exactly its fields in __dict__; reading it there is several times cheaper
        # than iterating the model, and this runs for every request.
        pairs = zip(self.ids, self.events, strict=True)
        return orjson.dumps([{"audit_id": audit_id, **event.__dict__} for audit_id, event in pairs]).decode()


def driver_connection(pooled: PoolProxiedConnection) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under a pooled SQLAlchemy one."""
    if pooled.driver_connection is None:
        raise RuntimeError("the connection was closed")
    connection: psycopg.AsyncConnection[Any] = pooled.driver_connection
    return connection


async def append_batch(connection: psycopg.AsyncConnection[Any], batch: AuditBatch) -> None:
    """The batch in one statement on a psycopg connection of its own. Not through SQLAlchemy's statement
    layer: this runs for every request, and that layer would cost more CPU than the insert itself."""
    async with connection.cursor() as cursor:
        await cursor.execute(_APPEND_BATCH, (batch.as_json(),), prepare=True)


class AuditRepository:
    def __init__(self, session: AsyncSession | AsyncConnection) -> None:
        self._session = session

    async def append_many(self, events: list[AuditEvent]) -> None:
        """The events, in the session's transaction."""
        session = self._session
        connection = session if isinstance(session, AsyncConnection) else await session.connection()
        await append_batch(driver_connection(await connection.get_raw_connection()), AuditBatch(events))

    async def by_patient(
        self, patient_id: str, *, before: dt.datetime | None, limit: int
    ) -> list[AuditRecord]:
        query = select(AuditRecordRow).where(AuditRecordRow.patient_id == patient_id)
        return await self._page(query, before, limit)

    async def by_actor(self, subject: str, *, before: dt.datetime | None, limit: int) -> list[AuditRecord]:
        query = select(AuditRecordRow).where(AuditRecordRow.actor_subject == subject)
        return await self._page(query, before, limit)

    async def _page(
        self, query: Select[AuditRecordRow], before: dt.datetime | None, limit: int
    ) -> list[AuditRecord]:
        if before is not None:
            query = query.where(AuditRecordRow.recorded_at < before)
        rows = await self._session.scalars(
            query.order_by(AuditRecordRow.recorded_at.desc(), AuditRecordRow.audit_id).limit(limit)
        )
        return [AuditRecord.model_validate(row, from_attributes=True) for row in rows]
