"""The medication list's rules: versions, optimistic concurrency, status transitions, the reviewed marker.

Every change moves the list version by one and appends a change record in the caller's transaction, together
with the materialised entry, so history and the current list can never disagree. A write takes the patient's
lock once per transaction and reads the entries once under it; the list it answers with is that list with the
change applied (the repository keeps it), not a second read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from pml.errors import InvalidInput
from pml.idempotency.repository import Lookup
from pml.medication_list.errors import (
    EntryNotFound,
    InvalidTransition,
    ListTooLarge,
    VersionConflict,
    VersionNotFound,
)
from pml.medication_list.repository import (
    ListHeader,
    MedicationListRepository,
    NewChange,
    read_blocks_and_list,
    read_current_list,
)
from pml.medication_list.schemas import (
    Actor,
    ChangeAction,
    ChangePage,
    ChangesSince,
    Entry,
    EntryChange,
    EntryStatus,
    MedicationList,
    NewEntry,
    Provenance,
    Source,
)

# Which status each action leads to, and from which statuses it may be taken.
_TRANSITIONS: dict[ChangeAction, tuple[EntryStatus, frozenset[EntryStatus]]] = {
    ChangeAction.STOP: (EntryStatus.STOPPED, frozenset({EntryStatus.ACTIVE, EntryStatus.PAUSED})),
    ChangeAction.PAUSE: (EntryStatus.PAUSED, frozenset({EntryStatus.ACTIVE})),
    ChangeAction.RESUME: (EntryStatus.ACTIVE, frozenset({EntryStatus.PAUSED})),
}


@dataclass(frozen=True, slots=True)
class WriteResult:
    medication_list: MedicationList
    entry: Entry | None


@dataclass(frozen=True, slots=True)
class ListLimits:
    max_entries: int
    max_page_size: int


class MedicationListService:
    def __init__(self, repository: MedicationListRepository, limits: ListLimits) -> None:
        self._repo = repository
        self._limits = limits

    # -- reads -------------------------------------------------------------------------------------------

    async def current(self, patient_id: str) -> MedicationList:
        header, entries = await self._repo.current_list(patient_id)
        return _current(patient_id, header, entries)

    async def at_version(self, patient_id: str, version: int) -> MedicationList:
        header = await self._repo.header(patient_id)
        current_version = header.version if header else 0
        if version < 0 or version > current_version:
            raise VersionNotFound(
                f"the list is at version {current_version}; version {version} does not exist"
            )
        return await self._rebuild(patient_id, version)

    async def as_of(self, patient_id: str, moment: dt.datetime) -> MedicationList:
        if moment.tzinfo is None:
            raise InvalidInput("give the time with a time zone, e.g. 2026-11-25T12:00:00+01:00")
        version = await self._repo.version_as_of(patient_id, moment)
        return await self._rebuild(patient_id, version)

    async def history(self, patient_id: str, *, before_version: int | None, limit: int) -> ChangePage:
        limit = self._page_size(limit)
        current = await self._current_version(patient_id)
        before = current + 1 if before_version is None else before_version
        changes = await self._repo.changes_before(patient_id, before, limit)
        next_before = changes[-1].version if len(changes) == limit and changes[-1].version > 1 else None
        return ChangePage(
            patient_id=patient_id, current_version=current, changes=changes, next_before_version=next_before
        )

    async def changes_since(self, patient_id: str, since_version: int, *, limit: int) -> ChangesSince:
        limit = self._page_size(limit)
        current = await self._current_version(patient_id)
        if since_version < 0 or since_version > current:
            raise VersionNotFound(f"the list is at version {current}; you cannot have seen {since_version}")
        changes = await self._repo.changes_after(patient_id, since_version, limit)
        has_more = bool(changes) and changes[-1].version < current
        return ChangesSince(
            patient_id=patient_id,
            since_version=since_version,
            current_version=current,
            changes=changes,
            has_more=has_more,
        )

    # -- writes ------------------------------------------------------------------------------------------

    async def lock(self, patient_id: str) -> ListHeader:
        """Serialise writers of this patient for the rest of the transaction."""
        return await self._repo.lock_list(patient_id)

    async def lock_for_write(self, patient_id: str, idempotency_key: str | None) -> Lookup | None:
        """`lock`, for a write that carries an Idempotency-Key: the stored response for the key when the lock
        could look it up in the same round trip (None: the caller looks it up, under the lock)."""
        _header, looked_up = await self._repo.lock_for_write(patient_id, idempotency_key)
        return looked_up

    async def add_entry(
        self, patient_id: str, expected_version: int, new: NewEntry, actor: Actor,
        *, provenance: Provenance | None = None,
    ) -> WriteResult:
        header = await self._begin_write(patient_id, expected_version)
        if len(await self._repo.locked_entries(patient_id)) >= self._limits.max_entries:
            raise ListTooLarge(f"a list holds at most {self._limits.max_entries} entries")
        version = header.version + 1
        fields = new.model_dump(exclude={"reason"})
        entry = Entry(id=uuid.uuid4(), created_version=version, updated_version=version, **fields)
        await self._record(
            patient_id, version, ChangeAction.ADD, actor, new.source, new.reason, None, entry, provenance
        )
        return await self._written(patient_id, entry)

    async def change_entry(
        self,
        patient_id: str,
        expected_version: int,
        entry_id: uuid.UUID,
        change: EntryChange,
        actor: Actor,
        source: Source,
        *,
        provenance: Provenance | None = None,
    ) -> WriteResult:
        header = await self._begin_write(patient_id, expected_version)
        before = await self._existing_entry(patient_id, entry_id)
        if before.status is EntryStatus.STOPPED:
            raise InvalidTransition("a stopped entry cannot be changed; add a new entry instead")
        version = header.version + 1
        after = _merged(before, change, version)
        await self._record(
            patient_id, version, ChangeAction.CHANGE, actor, source, change.reason, before, after, provenance
        )
        return await self._written(patient_id, after)

    async def change_status(
        self,
        patient_id: str,
        expected_version: int,
        entry_id: uuid.UUID,
        action: ChangeAction,
        *,
        reason: str | None,
        source: Source,
        actor: Actor,
        provenance: Provenance | None = None,
    ) -> WriteResult:
        header = await self._begin_write(patient_id, expected_version)
        before = await self._existing_entry(patient_id, entry_id)
        new_status, allowed_from = _TRANSITIONS[action]
        if before.status not in allowed_from:
            raise InvalidTransition(
                f"an entry that is {before.status.value} cannot be given '{action.value}'"
            )
        version = header.version + 1
        after = before.model_copy(
            update={"status": new_status, "status_reason": reason, "updated_version": version}
        )
        await self._record(patient_id, version, action, actor, source, reason, before, after, provenance)
        return await self._written(patient_id, after)

    async def mark_reviewed(
        self, patient_id: str, expected_version: int, actor: Actor, *, source: Source, note: str | None
    ) -> WriteResult:
        header = await self._begin_write(patient_id, expected_version)
        version = header.version + 1
        await self._record(
            patient_id, version, ChangeAction.REVIEW, actor, source, note, None, None, marks_reviewed=True
        )
        return await self._written(patient_id, None)

    # -- helpers -----------------------------------------------------------------------------------------

    async def _begin_write(self, patient_id: str, expected_version: int) -> ListHeader:
        header = await self._repo.lock_list(patient_id)
        if header.version != expected_version:
            current = _assembled(header, await self._repo.locked_entries(patient_id))
            raise VersionConflict(
                expected=expected_version,
                current=header.version,
                current_list=current.model_dump(mode="json"),
            )
        return header

    async def _existing_entry(self, patient_id: str, entry_id: uuid.UUID) -> Entry:
        entries = await self._repo.locked_entries(patient_id)
        entry = next((entry for entry in entries if entry.id == entry_id), None)
        if entry is None:
            raise EntryNotFound(f"entry {entry_id} is not on this patient's list")
        return entry

    async def _record(
        self,
        patient_id: str,
        version: int,
        action: ChangeAction,
        actor: Actor,
        source: Source,
        reason: str | None,
        before: Entry | None,
        after: Entry | None,
        provenance: Provenance | None = None,
        *,
        marks_reviewed: bool = False,
    ) -> dt.datetime:
        subject = after or before
        change = NewChange(
            version=version,
            action=action.value,
            entry_id=subject.id if subject else None,
            actor=actor,
            source=source.value,
            reason=reason,
            before=before,
            after=after,
            provenance=provenance,
        )
        return await self._repo.append_change(patient_id, change, marks_reviewed=marks_reviewed)

    async def _written(self, patient_id: str, entry: Entry | None) -> WriteResult:
        """The list after this transaction's writes, as the repository keeps it under the lock."""
        header = await self._repo.lock_list(patient_id)
        return WriteResult(_assembled(header, await self._repo.locked_entries(patient_id)), entry)

    async def _rebuild(self, patient_id: str, version: int) -> MedicationList:
        entries = await self._repo.entries_at_version(patient_id, version)
        reviewed = await self._repo.review_at_version(patient_id, version)
        updated_at = await self._repo.change_time(patient_id, version) if version else None
        return MedicationList(
            patient_id=patient_id, version=version, updated_at=updated_at, reviewed=reviewed, entries=entries
        )

    async def _current_version(self, patient_id: str) -> int:
        header = await self._repo.header(patient_id)
        return header.version if header else 0

    def _page_size(self, limit: int) -> int:
        if limit < 1 or limit > self._limits.max_page_size:
            raise InvalidInput(f"limit must be between 1 and {self._limits.max_page_size}")
        return limit


async def current_list(connection: AsyncConnection, patient_id: str) -> MedicationList:
    """The current list on a connection without a session or transaction (`Database.read_statement`): the
    uncached list read, which is one statement."""
    header, entries = await read_current_list(connection, patient_id)
    return _current(patient_id, header, entries)


async def blocks_and_current_list(
    connection: AsyncConnection, patient_id: str
) -> tuple[frozenset[str], MedicationList]:
    """`current_list` and the patient's active blocks in the same statement: the list read that misses the
    cache for both, which would otherwise be two round trips."""
    blocks, header, entries = await read_blocks_and_list(connection, patient_id)
    return blocks, _current(patient_id, header, entries)


def _current(patient_id: str, header: ListHeader | None, entries: list[Entry]) -> MedicationList:
    """Every resident has a list: one nobody has written is empty at version 0."""
    if header is None:
        return MedicationList(patient_id=patient_id, version=0, entries=[])
    return _assembled(header, entries)


def _assembled(header: ListHeader, entries: list[Entry]) -> MedicationList:
    return MedicationList(
        patient_id=header.patient_id,
        version=header.version,
        updated_at=header.updated_at,
        reviewed=header.reviewed,
        entries=entries,
    )


def _merged(before: Entry, change: EntryChange, version: int) -> Entry:
    """The entry with the given fields replaced, validated as a whole (e.g. dates still in order)."""
    updates = change.model_dump(exclude_unset=True, exclude={"reason"})
    data = before.model_dump() | updates | {"updated_version": version}
    try:
        return Entry.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(
            "the changed entry would not be valid",
            errors=error.errors(include_url=False, include_input=False),
        ) from None
