"""All SQL of the audit log. There is deliberately no update or delete here."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pml.audit.models import AuditRecordRow
from pml.audit.schemas import AuditEvent, AuditRecord


class AuditRepository:
    def __init__(self, session: AsyncSession | AsyncConnection) -> None:
        self._session = session

    async def append_many(self, events: list[AuditEvent]) -> None:
        rows = [{"audit_id": uuid.uuid4(), **event.model_dump(mode="json")} for event in events]
        await self._session.execute(insert(AuditRecordRow), rows)

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
