"""All SQL of the medication list. Services speak the domain; this module speaks PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from pml.db.engine import publish_after_commit
from pml.medication_list.events import ListVersionCommitted
from pml.medication_list.models import ListChangeRow, ListEntryRow, PatientListRow
from pml.medication_list.schemas import Actor, ChangeRecord, Entry, Provenance, ReviewedMarker


@dataclass(frozen=True, slots=True)
class ListHeader:
    patient_id: str
    version: int
    updated_at: dt.datetime | None
    reviewed: ReviewedMarker | None


@dataclass(frozen=True, slots=True)
class NewChange:
    version: int
    action: str
    entry_id: uuid.UUID | None
    actor: Actor
    source: str
    reason: str | None
    before: Entry | None
    after: Entry | None
    provenance: Provenance | None = None


def _header_from_row(row: PatientListRow) -> ListHeader:
    reviewed = None
    if row.reviewed_by is not None and row.reviewed_at and row.reviewed_version is not None:
        reviewed = ReviewedMarker(
            by=Actor.model_validate(row.reviewed_by), at=row.reviewed_at, version=row.reviewed_version
        )
    return ListHeader(row.patient_id, row.version, row.updated_at, reviewed)


def _entry_json(entry: Entry | None) -> dict[str, Any] | None:
    return None if entry is None else entry.model_dump(mode="json")


def _change_from_row(row: ListChangeRow) -> ChangeRecord:
    return ChangeRecord.model_validate(
        {
            "version": row.version,
            "recorded_at": row.recorded_at,
            "action": row.action,
            "entry_id": row.entry_id,
            "actor": row.actor,
            "organisation": row.organisation,
            "source": row.source,
            "reason": row.reason,
            "before": row.before,
            "after": row.after,
            "provenance": row.provenance,
        }
    )


class MedicationListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_list(self, patient_id: str) -> ListHeader:
        """Create the list row if needed and lock it: writers of one patient queue here, others don't."""
        await self._session.execute(
            pg_insert(PatientListRow).values(patient_id=patient_id).on_conflict_do_nothing()
        )
        row = await self._session.scalar(
            select(PatientListRow).where(PatientListRow.patient_id == patient_id).with_for_update()
        )
        assert row is not None, "the row was inserted or already there, and we hold its lock"
        return _header_from_row(row)

    async def header(self, patient_id: str) -> ListHeader | None:
        row = await self._session.get(PatientListRow, patient_id)
        return None if row is None else _header_from_row(row)

    async def current_entries(self, patient_id: str) -> list[Entry]:
        bodies = await self._session.scalars(
            select(ListEntryRow.body)
            .where(ListEntryRow.patient_id == patient_id)
            .order_by(ListEntryRow.created_version, ListEntryRow.entry_id)
        )
        return [Entry.model_validate(body) for body in bodies]

    async def entry(self, patient_id: str, entry_id: uuid.UUID) -> Entry | None:
        body = await self._session.scalar(
            select(ListEntryRow.body).where(
                ListEntryRow.patient_id == patient_id, ListEntryRow.entry_id == entry_id
            )
        )
        return None if body is None else Entry.model_validate(body)

    async def count_entries(self, patient_id: str) -> int:
        count = await self._session.scalar(
            select(func.count()).select_from(ListEntryRow).where(ListEntryRow.patient_id == patient_id)
        )
        return count or 0

    async def save_entry(self, patient_id: str, entry: Entry) -> None:
        values = {
            "status": entry.status.value,
            "atc": entry.product.atc,
            "body": _entry_json(entry),
            "updated_version": entry.updated_version,
        }
        statement = pg_insert(ListEntryRow).values(
            patient_id=patient_id, entry_id=entry.id, created_version=entry.created_version, **values
        )
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=["patient_id", "entry_id"], set_=values)
        )

    async def append_change(self, patient_id: str, change: NewChange) -> dt.datetime:
        """Append the change record and move the list header to its version, in the caller's transaction."""
        recorded_at: dt.datetime | None = await self._session.scalar(
            insert(ListChangeRow)
            .values(
                patient_id=patient_id,
                version=change.version,
                action=change.action,
                entry_id=change.entry_id,
                actor=change.actor.model_dump(mode="json"),
                organisation=change.actor.organisation,
                source=change.source,
                reason=change.reason,
                before=_entry_json(change.before),
                after=_entry_json(change.after),
                provenance=change.provenance.model_dump(mode="json") if change.provenance else None,
            )
            .returning(ListChangeRow.recorded_at)
        )
        assert recorded_at is not None
        await self._session.execute(
            update(PatientListRow)
            .where(PatientListRow.patient_id == patient_id)
            .values(version=change.version, updated_at=recorded_at)
        )
        publish_after_commit(self._session, ListVersionCommitted(patient_id, change.version))
        return recorded_at

    async def set_reviewed(self, patient_id: str, marker: ReviewedMarker) -> None:
        await self._session.execute(
            update(PatientListRow)
            .where(PatientListRow.patient_id == patient_id)
            .values(
                reviewed_by=marker.by.model_dump(mode="json"),
                reviewed_at=marker.at,
                reviewed_version=marker.version,
            )
        )

    async def entries_at_version(self, patient_id: str, version: int) -> list[Entry]:
        """Rebuild the list at `version` from the history: each entry's latest state up to it."""
        latest = (
            select(ListChangeRow.after, ListChangeRow.entry_id)
            .where(
                ListChangeRow.patient_id == patient_id,
                ListChangeRow.version <= version,
                ListChangeRow.entry_id.is_not(None),
            )
            .ext(distinct_on(ListChangeRow.entry_id))
            .order_by(ListChangeRow.entry_id, ListChangeRow.version.desc())
        )
        rows = (await self._session.execute(latest)).all()
        entries = [Entry.model_validate(row.after) for row in rows if row.after is not None]
        return sorted(entries, key=lambda e: (e.created_version, str(e.id)))

    async def review_at_version(self, patient_id: str, version: int) -> ReviewedMarker | None:
        row = await self._session.scalar(
            select(ListChangeRow)
            .where(
                ListChangeRow.patient_id == patient_id,
                ListChangeRow.version <= version,
                ListChangeRow.action == "review",
            )
            .order_by(ListChangeRow.version.desc())
            .limit(1)
        )
        if row is None:
            return None
        return ReviewedMarker(by=Actor.model_validate(row.actor), at=row.recorded_at, version=row.version)

    async def change_time(self, patient_id: str, version: int) -> dt.datetime | None:
        return await self._session.scalar(
            select(ListChangeRow.recorded_at).where(
                ListChangeRow.patient_id == patient_id, ListChangeRow.version == version
            )
        )

    async def version_as_of(self, patient_id: str, moment: dt.datetime) -> int:
        version = await self._session.scalar(
            select(func.max(ListChangeRow.version)).where(
                ListChangeRow.patient_id == patient_id, ListChangeRow.recorded_at <= moment
            )
        )
        return version or 0

    async def changes_before(self, patient_id: str, before_version: int, limit: int) -> list[ChangeRecord]:
        rows = await self._session.scalars(
            select(ListChangeRow)
            .where(ListChangeRow.patient_id == patient_id, ListChangeRow.version < before_version)
            .order_by(ListChangeRow.version.desc())
            .limit(limit)
        )
        return [_change_from_row(row) for row in rows]

    async def changes_after(self, patient_id: str, since_version: int, limit: int) -> list[ChangeRecord]:
        rows = await self._session.scalars(
            select(ListChangeRow)
            .where(ListChangeRow.patient_id == patient_id, ListChangeRow.version > since_version)
            .order_by(ListChangeRow.version)
            .limit(limit)
        )
        return [_change_from_row(row) for row in rows]
