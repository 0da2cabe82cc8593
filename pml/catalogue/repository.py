"""All SQL of catalogue releases. Two doors onto the same tables:

* `ReleaseRepository` (async SQLAlchemy) for the service and the API: list, activate, roll back, and read a
  release's records back to compile them;
* `ReleaseLoadRepository` (sync psycopg) for the loader, a batch job that streams records in with COPY.

Neither commits: the loader and the request/command that own the transaction do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg import sql
from sqlalchemy import Select, Text, Update, cast, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from interactions.model import CatalogueRecord
from pml.catalogue.models import (
    CatalogueActivationRow,
    CatalogueInteractionRow,
    CatalogueNotAssessedRow,
    CataloguePackageRow,
    CatalogueProductRow,
    CatalogueReleaseRow,
    CatalogueStrengthRow,
    CatalogueSubstanceRow,
    CatalogueSwapGroupRow,
)
from pml.catalogue.schemas import ReleaseInfo

# Advisory lock keys (any two constants unique in the database): loads queue behind each other, and so do
# activations, across every process and node.
LOAD_LOCK_KEY = 7_180_001
ACTIVATION_LOCK_KEY = 7_180_002

ACTIVATABLE_STATUSES = frozenset({"loaded", "active", "previous"})


def _release_info(row: CatalogueReleaseRow) -> ReleaseInfo:
    return ReleaseInfo(
        id=str(row.id),
        source_name=row.source_name,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        hentet_dato=row.hentet_dato,
        status=row.status,  # the CHECK constraint keeps it to the Literal's values
        counts=row.counts,
        withdrawn=row.withdrawn,
        skipped=row.skipped,
        created_at=row.created_at,
        loaded_at=row.loaded_at,
        load_seconds=row.load_seconds,
        activated_at=row.activated_at,
        error=row.error,
    )


def _database_id(release_id: str) -> int | None:
    """The integer key behind an opaque release id; None for ids that cannot exist."""
    return int(release_id) if release_id.isascii() and release_id.isdigit() and len(release_id) < 10 else None


# -- record tables -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordTable:
    """Where one record kind is stored: the table, its query columns and how a record fills them."""

    model: type[Any]
    columns: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]

    @property
    def name(self) -> str:
        name: str = self.model.__tablename__
        return name

    @property
    def copy_statement(self) -> sql.Composed:
        columns = [sql.Identifier(column) for column in ("release_id", *self.columns, "status", "body")]
        return sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(self.name), sql.SQL(", ").join(columns)
        )


RECORD_TABLES: dict[str, RecordTable] = {
    "product": RecordTable(CatalogueProductRow, ("product_id", "atc"), lambda r: (r.id, r.atc)),
    "package": RecordTable(
        CataloguePackageRow,
        ("package_id", "varenr", "ean", "product_id", "atc"),
        lambda r: (r.id, r.varenr, r.ean, r.product_id, r.atc),
    ),
    "substance": RecordTable(CatalogueSubstanceRow, ("substance_id", "atc"), lambda r: (r.id, r.atc)),
    "substance_with_strength": RecordTable(
        CatalogueStrengthRow, ("strength_id", "substance_id"), lambda r: (r.id, r.substance_id)
    ),
    "swap_group": RecordTable(CatalogueSwapGroupRow, ("swap_group_id", "code"), lambda r: (r.id, r.code)),
    "interaction": RecordTable(
        CatalogueInteractionRow,
        ("interaction_id", "entry_id", "relevans"),
        lambda r: (r.id, r.entry_id, r.relevans),
    ),
    "not_assessed": RecordTable(CatalogueNotAssessedRow, ("entry_id", "atc"), lambda r: (r.entry_id, r.atc)),
}


def record_row(release_id: int, record: CatalogueRecord) -> tuple[Any, ...]:
    """The COPY row of one record. orjson serialises the frozen dataclass exactly as `to_dict()` would (its
    fields, tuples as arrays; a test holds it to that), several times faster than `dataclasses.asdict`."""
    table = RECORD_TABLES[record.kind]
    return (release_id, *table.values(record), record.status, orjson.dumps(record).decode())


class ReleaseLoadRepository:
    """The loader's SQL, over one sync psycopg connection (the caller commits)."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._conn = connection

    def lock_loads(self) -> None:
        """Wait for any other load to finish; held until `unlock_loads` or the connection closes (also on a
        crash), so a 'loading' release seen while holding it belongs to a loader that died."""
        self._conn.execute("SELECT pg_advisory_lock(%s)", (LOAD_LOCK_KEY,))

    def unlock_loads(self) -> None:
        self._conn.execute("SELECT pg_advisory_unlock(%s)", (LOAD_LOCK_KEY,))

    def fail_interrupted_loads(self) -> int:
        cursor = self._conn.execute(
            "UPDATE catalogue_release SET status = 'failed', error = 'the load was interrupted' "
            "WHERE status = 'loading'"
        )
        return cursor.rowcount

    def loaded_release_id(self, sha256: str) -> int | None:
        """The release already holding this file (loaded, active or previous), if any."""
        row = self._conn.execute(
            "SELECT id FROM catalogue_release WHERE sha256 = %s AND status <> 'failed'", (sha256,)
        ).fetchone()
        return None if row is None else int(row[0])

    def begin_release(self, source_name: str, sha256: str, size_bytes: int) -> int:
        row = self._conn.execute(
            "INSERT INTO catalogue_release (source_name, sha256, size_bytes, status) "
            "VALUES (%s, %s, %s, 'loading') RETURNING id",
            (source_name, sha256, size_bytes),
        ).fetchone()
        assert row is not None, "INSERT ... RETURNING returns the row"
        return int(row[0])

    def copy_rows(self, kind: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor, cursor.copy(RECORD_TABLES[kind].copy_statement) as copy:
            for row in rows:
                copy.write_row(row)

    def finish_release(
        self,
        release_id: int,
        *,
        hentet_dato: str | None,
        counts: dict[str, int],
        withdrawn: dict[str, int],
        skipped: dict[str, int],
        load_seconds: float,
    ) -> None:
        self._conn.execute(
            "UPDATE catalogue_release SET status = 'loaded', hentet_dato = %s, counts = %s, withdrawn = %s,"
            " skipped = %s, load_seconds = %s, loaded_at = clock_timestamp()"
            " WHERE id = %s AND status = 'loading'",
            (hentet_dato, _json(counts), _json(withdrawn), _json(skipped), load_seconds, release_id),
        )

    def mark_failed(self, release_id: int, error: str) -> None:
        """Mark a release failed. Its records were never committed (they commit with 'loaded'), but a failed
        release must hold none whatever happened, so they are deleted here too."""
        for table in RECORD_TABLES.values():
            self._conn.execute(
                sql.SQL("DELETE FROM {} WHERE release_id = %s").format(sql.Identifier(table.name)),
                (release_id,),
            )
        self._conn.execute(
            "UPDATE catalogue_release SET status = 'failed', error = %s WHERE id = %s AND status = 'loading'",
            (error, release_id),
        )


def _json(value: dict[str, int]) -> str:
    return orjson.dumps(value).decode()


def _fresh(statement: Select[Any]) -> Select[Any]:
    """Reads after an UPDATE in the same session must see the database, not the identity map."""
    return statement.execution_options(populate_existing=True)


def _plain(statement: Update) -> Update:
    """Release updates are plain SQL: rows are re-read with `_fresh`, never patched in the identity map."""
    return statement.execution_options(synchronize_session=False)


# -- the service's door --------------------------------------------------------------------------------------


class ReleaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def releases(self) -> list[ReleaseInfo]:
        rows = await self._session.scalars(
            _fresh(select(CatalogueReleaseRow).order_by(CatalogueReleaseRow.id.desc()))
        )
        return [_release_info(row) for row in rows]

    async def release(self, release_id: str) -> ReleaseInfo | None:
        key = _database_id(release_id)
        if key is None:
            return None
        row = await self._session.scalar(
            _fresh(select(CatalogueReleaseRow).where(CatalogueReleaseRow.id == key))
        )
        return None if row is None else _release_info(row)

    async def release_with_status(self, status: str) -> ReleaseInfo | None:
        statement = select(CatalogueReleaseRow).where(CatalogueReleaseRow.status == status)
        row = await self._session.scalar(_fresh(statement))
        return None if row is None else _release_info(row)

    async def active_release_id(self) -> str | None:
        """The cheap question every API node asks every few seconds."""
        key = await self._session.scalar(
            select(CatalogueReleaseRow.id).where(CatalogueReleaseRow.status == "active")
        )
        return None if key is None else str(key)

    async def lock_activation(self) -> None:
        """Serialise activations and rollbacks until the transaction ends."""
        await self._session.execute(select(func.pg_advisory_xact_lock(ACTIVATION_LOCK_KEY)))

    async def set_status(self, release_id: str, status: str) -> None:
        await self._session.execute(
            _plain(update(CatalogueReleaseRow))
            .where(CatalogueReleaseRow.id == _database_id(release_id))
            .values(status=status)
        )

    async def make_active(self, release_id: str) -> None:
        await self._session.execute(
            _plain(update(CatalogueReleaseRow))
            .where(CatalogueReleaseRow.id == _database_id(release_id))
            .values(status="active", activated_at=func.clock_timestamp())
        )

    async def log_activation(self, release_id: str, replaced_release_id: str | None, action: str) -> None:
        replaced = None if replaced_release_id is None else _database_id(replaced_release_id)
        await self._session.execute(
            insert(CatalogueActivationRow).values(
                release_id=_database_id(release_id), replaced_release_id=replaced, action=action
            )
        )

    async def records(self, release_id: str) -> list[tuple[str, dict[str, Any]]]:
        """Every record of a release as (kind, to_dict form), kind by kind. JSONB is read as text and parsed
        with orjson: several times faster than the driver's json.loads on a full-size release."""
        key = _database_id(release_id)
        rows: list[tuple[str, dict[str, Any]]] = []
        for kind, table in RECORD_TABLES.items():
            bodies = await self._session.scalars(
                select(cast(table.model.body, Text)).where(table.model.release_id == key)
            )
            rows += [(kind, orjson.loads(body)) for body in bodies]
        return rows

    async def set_statement_timeout(self, milliseconds: int) -> None:
        """Reading a full-size release may take longer than the request timeout the engine sets."""
        await self._session.execute(text(f"SET LOCAL statement_timeout = {int(milliseconds)}"))
