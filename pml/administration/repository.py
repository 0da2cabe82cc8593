"""All SQL of administration records. Rows are only ever inserted; the table's trigger refuses the rest."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from pml.administration.models import AdministrationRecordRow
from pml.administration.schemas import AdministrationRecord, EntrySnapshot, ReviewReason
from pml.medication_list.schemas import Actor

Row = AdministrationRecordRow


@dataclass(frozen=True, slots=True)
class NewRecord:
    record_id: uuid.UUID
    entry_id: uuid.UUID
    scheduled_at: dt.datetime | None
    dose_at: dt.datetime
    outcome: str
    amount: Decimal | None
    unit: str | None
    reason: str | None
    note: str | None
    occurred_at: dt.datetime
    recorded_by: Actor
    list_version: int
    corrects: uuid.UUID | None
    review_reasons: list[ReviewReason]
    entry: EntrySnapshot


def _record_from_row(row: Row) -> AdministrationRecord:
    return AdministrationRecord.model_validate(
        {
            "record_id": row.record_id,
            "patient_id": row.patient_id,
            "entry_id": row.entry_id,
            "scheduled_at": row.scheduled_at,
            "dose_at": row.dose_at,
            "outcome": row.outcome,
            "amount": row.amount,
            "unit": row.unit,
            "reason": row.reason,
            "note": row.note,
            "occurred_at": row.occurred_at,
            "recorded_at": row.recorded_at,
            "recorded_by": row.recorded_by,
            "list_version": row.list_version,
            "corrects": row.corrects_record_id,
            "flagged_for_review": row.flagged_for_review,
            "review_reasons": row.review_reasons,
            "entry": row.entry_snapshot,
        }
    )


class AdministrationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_patient(self, patient_id: str) -> None:
        """Serialise administration writes of one patient for the rest of the transaction (idempotency replay,
        correction and daily-maximum checks then see every committed record). Other patients never wait."""
        key = func.hashtextextended(f"pml.administration:{patient_id}", 0)
        await self._session.execute(select(func.pg_advisory_xact_lock(key)))

    async def insert(self, patient_id: str, record: NewRecord) -> AdministrationRecord:
        row = await self._session.scalar(
            insert(Row)
            .values(
                patient_id=patient_id,
                record_id=record.record_id,
                entry_id=record.entry_id,
                scheduled_at=record.scheduled_at,
                dose_at=record.dose_at,
                outcome=record.outcome,
                amount=record.amount,
                unit=record.unit,
                reason=record.reason,
                note=record.note,
                occurred_at=record.occurred_at,
                recorded_by=record.recorded_by.model_dump(mode="json"),
                actor_subject=record.recorded_by.subject,
                organisation=record.recorded_by.organisation,
                list_version=record.list_version,
                corrects_record_id=record.corrects,
                flagged_for_review=bool(record.review_reasons),
                review_reasons=[reason.value for reason in record.review_reasons],
                entry_snapshot=record.entry.model_dump(mode="json"),
            )
            .returning(Row)
        )
        assert row is not None
        return _record_from_row(row)

    async def get(self, patient_id: str, record_id: uuid.UUID) -> AdministrationRecord | None:
        row = await self._session.get(Row, (patient_id, record_id))
        return None if row is None else _record_from_row(row)

    async def correction_of(self, patient_id: str, record_id: uuid.UUID) -> uuid.UUID | None:
        """The record that corrects `record_id`, if any."""
        return await self._session.scalar(
            select(Row.record_id).where(Row.patient_id == patient_id, Row.corrects_record_id == record_id)
        )

    async def chains_with_dose_in(
        self, patient_id: str, start: dt.datetime, end: dt.datetime
    ) -> list[AdministrationRecord]:
        """Every record of every chain with a record whose dose time lies in [start, end)."""
        seed = select(Row.record_id, Row.corrects_record_id).where(
            Row.patient_id == patient_id, Row.dose_at >= start, Row.dose_at < end
        )
        return await self._whole_chains(patient_id, seed)

    async def chain_of(self, patient_id: str, record_id: uuid.UUID) -> list[AdministrationRecord]:
        seed = select(Row.record_id, Row.corrects_record_id).where(
            Row.patient_id == patient_id, Row.record_id == record_id
        )
        return await self._whole_chains(patient_id, seed)

    async def _whole_chains(
        self, patient_id: str, seed: Select[uuid.UUID, uuid.UUID | None]
    ) -> list[AdministrationRecord]:
        """The seed records and everything linked to them by corrections, in both directions."""
        chain = seed.cte("chain", recursive=True)
        linked = aliased(Row)
        chain = chain.union(
            select(linked.record_id, linked.corrects_record_id)
            .join(
                chain,
                or_(
                    linked.corrects_record_id == chain.c.record_id,
                    linked.record_id == chain.c.corrects_record_id,
                ),
            )
            .where(linked.patient_id == patient_id)
        )
        rows = await self._session.scalars(
            select(Row)
            .where(Row.patient_id == patient_id, Row.record_id.in_(select(chain.c.record_id)))
            .order_by(Row.recorded_at, Row.record_id)
        )
        return [_record_from_row(row) for row in rows]
