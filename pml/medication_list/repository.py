"""All SQL of the medication list. Services speak the domain; this module speaks PostgreSQL.

The hot statements are Core statements built once at import, with named parameters: a write is one lock, one
read of the entries and one statement that records the change, and a plain read of the current list is one
statement. Under the patient's lock the repository keeps the list as it stands in the transaction (see
`LockedList`), so the steps of a write, and several writes in one transaction, never read it twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import TypeAdapter
from sqlalchemy import (
    Executable,
    Result,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    outerjoin,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter

from pml.db.engine import execute_core, publish_after_commit
from pml.idempotency.models import IdempotencyRecordRow
from pml.idempotency.repository import RECORD_COLUMNS, RECORD_KEY, Lookup, record_from_row
from pml.medication_list.events import ListVersionCommitted
from pml.medication_list.models import ListChangeRow, ListEntryRow, PatientListRow
from pml.medication_list.schemas import Actor, ChangeRecord, Entry, Provenance, ReviewedMarker
from pml.privacy.repository import active_block_keys


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


@dataclass(slots=True)
class LockedList:
    """One patient's list as it stands in the transaction that holds its lock. Read once (the entries only
    when first needed) and moved by every change this transaction records; nothing else writes the list while
    the lock is held, so it is what a new read would return."""

    header: ListHeader
    entries: list[Entry] | None = None
    # The write's Idempotency-Key looked up by the lock statement, when that look-up is current.
    looked_up: Lookup | None = None

    def apply(self, change: NewChange, recorded_at: dt.datetime, reviewed: ReviewedMarker | None) -> None:
        self.header = ListHeader(
            self.header.patient_id, change.version, recorded_at, reviewed or self.header.reviewed
        )
        if self.entries is not None and change.after is not None:
            after = change.after
            positions = [i for i, entry in enumerate(self.entries) if entry.id == after.id]
            if positions:
                self.entries[positions[0]] = after
            else:
                self.entries.append(after)  # a new entry has the highest created_version: it sorts last


@dataclass(slots=True)
class _TransactionLocks:
    """The lists locked in one transaction; `transaction` tells a later transaction of the session apart."""

    transaction: object
    lists: dict[str, LockedList] = field(default_factory=dict)


_LOCKS = "pml.medication_list.locks"

# -- statements ----------------------------------------------------------------------------------------------

_HEADER_COLUMNS = (
    PatientListRow.version,
    PatientListRow.updated_at,
    PatientListRow.reviewed_by,
    PatientListRow.reviewed_at,
    PatientListRow.reviewed_version,
)
_PATIENT: BindParameter[str] = bindparam("list_patient_id")
_ENTRY_ORDER = (ListEntryRow.created_version, ListEntryRow.entry_id)

# The entries as one JSON array (NULL for none), in list order: validated in one call, no row per entry.
_ENTRIES_JSON = (
    select(cast(func.json_agg(aggregate_order_by(ListEntryRow.body, *_ENTRY_ORDER)), Text))
    .where(ListEntryRow.patient_id == _PATIENT)
    .scalar_subquery()
    .label("entries")
)
_SNAPSHOT = aliased(PatientListRow, name="snapshot")
# The version this statement's snapshot sees, whatever the row lock then returns (see `_lock_row`).
_SNAPSHOT_VERSION = (
    select(_SNAPSHOT.version).where(_SNAPSHOT.patient_id == _PATIENT).scalar_subquery().label("seen_version")
)

LOCK_LIST = (
    select(*_HEADER_COLUMNS, _SNAPSHOT_VERSION, _ENTRIES_JSON)
    .where(PatientListRow.patient_id == _PATIENT)
    .with_for_update(of=PatientListRow)
)
# The same, and the stored response of the write's Idempotency-Key (looked up under the lock anyway): one
# round trip less for a write with a key. The record is as current as the entries (see `_lock_row`).
LOCK_LIST_FINDING_RESPONSE = (
    select(*_HEADER_COLUMNS, _SNAPSHOT_VERSION, _ENTRIES_JSON, *RECORD_COLUMNS)
    .select_from(
        outerjoin(
            PatientListRow,
            IdempotencyRecordRow,
            and_(
                IdempotencyRecordRow.patient_id == PatientListRow.patient_id,
                IdempotencyRecordRow.idempotency_key == RECORD_KEY,
            ),
        )
    )
    .where(PatientListRow.patient_id == _PATIENT)
    .with_for_update(of=PatientListRow)
)
CREATE_LIST = pg_insert(PatientListRow).values(patient_id=_PATIENT).on_conflict_do_nothing()
READ_HEADER = select(*_HEADER_COLUMNS).where(PatientListRow.patient_id == _PATIENT)
READ_ENTRIES = select(_ENTRIES_JSON)
# The header and its entries in one statement: one snapshot, so consistent without a transaction around it.
READ_LIST = select(*_HEADER_COLUMNS, _ENTRIES_JSON).where(PatientListRow.patient_id == _PATIENT)
# The same with the patient's active blocks, for a read that must check them and has neither cached: one row
# whether or not anybody has written the list (the header columns are NULL then). The one-row source is not
# a VALUES construct: SQLAlchemy cannot cache that compiled, which cost more than a second statement.
_ONE_ROW = select(literal_column("1").label("one")).subquery("one")
READ_BLOCKS_AND_LIST = select(active_block_keys(_PATIENT), *_HEADER_COLUMNS, _ENTRIES_JSON).select_from(
    _ONE_ROW.outerjoin(PatientListRow, PatientListRow.patient_id == _PATIENT)
)
_ENTRY_LIST = TypeAdapter(list[Entry])


def _recording(*, with_entry: bool, marks_reviewed: bool) -> Any:
    """One statement that appends the change record, upserts the entry's after-image (the same parameter as
    the record's `after`) and moves the header to the change's version and time, returning that time.
    PostgreSQL runs every data-modifying CTE of a statement, in the statement's single snapshot."""
    change = (
        pg_insert(ListChangeRow)
        .values(
            patient_id=_PATIENT,
            version=bindparam("change_version"),
            action=bindparam("change_action"),
            entry_id=bindparam("change_entry_id"),
            actor=bindparam("change_actor"),
            organisation=bindparam("change_organisation"),
            source=bindparam("change_source"),
            reason=bindparam("change_reason"),
            before=bindparam("change_before"),
            after=bindparam("change_after"),
            provenance=bindparam("change_provenance"),
        )
        .returning(ListChangeRow.recorded_at)
        .cte("change")
    )
    recorded_at = select(change.c.recorded_at).scalar_subquery()
    header: dict[str, Any] = {"version": bindparam("change_version"), "updated_at": recorded_at}
    if marks_reviewed:
        header |= {
            "reviewed_by": bindparam("change_actor"),
            "reviewed_at": recorded_at,
            "reviewed_version": bindparam("change_version"),
        }
    statement = (
        update(PatientListRow)
        .where(PatientListRow.patient_id == _PATIENT)
        .values(header)
        .returning(PatientListRow.updated_at)
    )
    if not with_entry:
        return statement
    entry = pg_insert(ListEntryRow).values(
        patient_id=_PATIENT,
        entry_id=bindparam("change_entry_id"),
        status=bindparam("entry_status"),
        atc=bindparam("entry_atc"),
        body=bindparam("change_after"),
        created_version=bindparam("entry_created_version"),
        updated_version=bindparam("change_version"),
    )
    upsert = entry.on_conflict_do_update(
        index_elements=["patient_id", "entry_id"],
        set_={
            "status": entry.excluded.status,
            "atc": entry.excluded.atc,
            "body": entry.excluded.body,
            "updated_version": entry.excluded.updated_version,
        },
    )
    return statement.add_cte(upsert.cte("saved_entry"))


RECORD_ENTRY_CHANGE = _recording(with_entry=True, marks_reviewed=False)
RECORD_REVIEW = _recording(with_entry=False, marks_reviewed=True)
RECORD_CHANGE = _recording(with_entry=False, marks_reviewed=False)

# -- rows to domain ------------------------------------------------------------------------------------------


class _HeaderRow(Protocol):
    version: int
    updated_at: dt.datetime | None
    reviewed_by: dict[str, object] | None
    reviewed_at: dt.datetime | None
    reviewed_version: int | None


def _header_from_row(patient_id: str, row: _HeaderRow) -> ListHeader:
    reviewed = None
    if row.reviewed_by is not None and row.reviewed_at and row.reviewed_version is not None:
        reviewed = ReviewedMarker(
            by=Actor.model_validate(row.reviewed_by), at=row.reviewed_at, version=row.reviewed_version
        )
    return ListHeader(patient_id, row.version, row.updated_at, reviewed)


def _entries_from_json(entries: str | None) -> list[Entry]:
    return [] if entries is None else _ENTRY_LIST.validate_json(entries)


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


def _change_parameters(patient_id: str, change: NewChange) -> dict[str, Any]:
    after = change.after
    return {
        "list_patient_id": patient_id,
        "change_version": change.version,
        "change_action": change.action,
        "change_entry_id": change.entry_id,
        "change_actor": change.actor.model_dump(mode="json"),
        "change_organisation": change.actor.organisation,
        "change_source": change.source,
        "change_reason": change.reason,
        "change_before": _entry_json(change.before),
        "change_after": _entry_json(after),
        "change_provenance": change.provenance.model_dump(mode="json") if change.provenance else None,
        "entry_status": after.status.value if after else None,
        "entry_atc": after.product.atc if after else None,
        "entry_created_version": after.created_version if after else None,
    }


async def read_current_list(
    connection: AsyncConnection, patient_id: str
) -> tuple[ListHeader | None, list[Entry]]:
    """The header (None for a list nobody has written) and the entries, in one statement: on a session's
    connection, or on an autocommit connection of its own (the statement is its own consistent snapshot)."""
    row = (await connection.execute(READ_LIST, {"list_patient_id": patient_id})).first()
    if row is None:
        return None, []
    return _header_from_row(patient_id, row), _entries_from_json(row.entries)


async def read_blocks_and_list(
    connection: AsyncConnection, patient_id: str
) -> tuple[frozenset[str], ListHeader | None, list[Entry]]:
    """The patient's active blocks ('kind:value'), the list's header (None for a list nobody has written) and
    its entries, in one statement on an autocommit connection (one snapshot)."""
    row = (await connection.execute(READ_BLOCKS_AND_LIST, {"list_patient_id": patient_id})).one()
    header = _header_from_row(patient_id, row) if row.version is not None else None
    return frozenset(row.blocks or ()), header, _entries_from_json(row.entries)


class MedicationListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- the lock and the list under it ---------------------------------------------------------------------

    async def lock_list(self, patient_id: str) -> ListHeader:
        """Create the list row if needed and lock it: writers of one patient queue here, others don't.
        Locked once per transaction; asking again returns the header as this transaction has moved it."""
        return (await self._locked_list(patient_id, idempotency_key=None)).header

    async def lock_for_write(
        self, patient_id: str, idempotency_key: str | None
    ) -> tuple[ListHeader, Lookup | None]:
        """`lock_list`, and the stored response for the write's Idempotency-Key when the same statement could
        look it up (None: look it up yourself, under the lock now held)."""
        locked = await self._locked_list(patient_id, idempotency_key=idempotency_key)
        looked_up, locked.looked_up = locked.looked_up, None  # current only right after the lock
        return locked.header, looked_up

    async def _locked_list(self, patient_id: str, *, idempotency_key: str | None) -> LockedList:
        locks = self._locks()
        locked = locks.lists.get(patient_id)
        if locked is None:
            locked = await self._lock_row(patient_id, idempotency_key)
            locks.lists[patient_id] = locked
        return locked

    async def locked_entries(self, patient_id: str) -> list[Entry]:
        """The current entries of a list this transaction has locked, read from the database only once."""
        locked = self._locks().lists[patient_id]
        if locked.entries is None:
            locked.entries = await self._read_entries(patient_id)
        return list(locked.entries)

    async def _lock_row(self, patient_id: str, idempotency_key: str | None) -> LockedList:
        """Lock the header row and read the entries in the same round trip. In READ COMMITTED a row lock that
        waited for another writer returns that writer's committed row, while the rest of the statement still
        sees the snapshot taken before the wait: the entries read with it are current only if the snapshot
        saw the version the lock returned (every list write moves the version). If not, read them again; the
        same holds for the Idempotency-Key's record (its list writes move the version too)."""
        parameters = {"list_patient_id": patient_id, "record_key": idempotency_key}
        statement = LOCK_LIST if idempotency_key is None else LOCK_LIST_FINDING_RESPONSE
        row = (await self._execute(statement, parameters)).first()
        if row is None:  # the patient's first write: create the row (a racing writer may too), then lock
            await self._execute(CREATE_LIST, parameters)
            row = (await self._execute(statement, parameters)).first()
        assert row is not None, "the row was inserted or already there, and we hold its lock"
        header = _header_from_row(patient_id, row)
        if row.seen_version != header.version:
            return LockedList(header)
        looked_up = None if idempotency_key is None else Lookup(record_from_row(row))
        return LockedList(header, _entries_from_json(row.entries), looked_up)

    async def _execute(self, statement: Executable, parameters: dict[str, Any]) -> Result[Any]:
        return await execute_core(self._session, statement, parameters)

    def _locks(self) -> _TransactionLocks:
        transaction = self._session.sync_session.get_transaction()
        # A lock lasts for its transaction, and so does what is kept under it: begin one first.
        assert transaction is not None, "the list lock needs a transaction (session.begin())"
        locks: _TransactionLocks | None = self._session.info.get(_LOCKS)
        if locks is None or locks.transaction is not transaction:
            locks = _TransactionLocks(transaction)
            self._session.info[_LOCKS] = locks
        return locks

    def _locked(self, patient_id: str) -> LockedList | None:
        locks: _TransactionLocks | None = self._session.info.get(_LOCKS)
        if locks is None or locks.transaction is not self._session.sync_session.get_transaction():
            return None
        return locks.lists.get(patient_id)

    # -- reads ----------------------------------------------------------------------------------------------

    async def header(self, patient_id: str) -> ListHeader | None:
        if (locked := self._locked(patient_id)) is not None:
            return locked.header
        row = (await self._execute(READ_HEADER, {"list_patient_id": patient_id})).first()
        return None if row is None else _header_from_row(patient_id, row)

    async def current_list(self, patient_id: str) -> tuple[ListHeader | None, list[Entry]]:
        """The header (None for a list nobody has written) and the entries, in one statement."""
        if (locked := self._locked(patient_id)) is not None:
            return locked.header, await self.locked_entries(patient_id)
        return await read_current_list(await self._session.connection(), patient_id)

    async def _read_entries(self, patient_id: str) -> list[Entry]:
        entries = (await self._execute(READ_ENTRIES, {"list_patient_id": patient_id})).scalar()
        return _entries_from_json(entries)

    # -- writes ---------------------------------------------------------------------------------------------

    async def append_change(
        self, patient_id: str, change: NewChange, *, marks_reviewed: bool = False
    ) -> dt.datetime:
        """Append the change record, save the entry's after-image (if any) and move the list header to the
        change's version (and, for a review, its reviewed marker), in the caller's transaction, which holds
        the list's lock. Returns the change's recorded time."""
        locked = self._locks().lists[patient_id]
        if marks_reviewed:
            statement = RECORD_REVIEW
        else:
            statement = RECORD_ENTRY_CHANGE if change.after is not None else RECORD_CHANGE
        recorded_at: dt.datetime | None = (
            await self._execute(statement, _change_parameters(patient_id, change))
        ).scalar()
        assert recorded_at is not None, "the locked header row is there to update"
        reviewed = ReviewedMarker(by=change.actor, at=recorded_at, version=change.version)
        locked.apply(change, recorded_at, reviewed if marks_reviewed else None)
        publish_after_commit(self._session, ListVersionCommitted(patient_id, change.version))
        return recorded_at

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
