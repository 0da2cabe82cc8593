"""All SQL of access blocks."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import BindParameter, Label

from pml.db.engine import publish_after_commit
from pml.privacy.events import BlocksChanged
from pml.privacy.models import AccessBlockRow
from pml.privacy.schemas import Block, BlockKind, NewBlock


def _block(row: AccessBlockRow) -> Block:
    return Block(
        id=row.block_id, kind=BlockKind(row.kind), value=row.value, note=row.note,
        created_at=row.created_at, revoked_at=row.revoked_at,
    )


class BlockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, patient_id: str, block: NewBlock, created_by: str) -> Block:
        row = await self._session.scalar(
            insert(AccessBlockRow)
            .values(
                patient_id=patient_id, block_id=uuid.uuid4(), kind=block.kind.value, value=block.value,
                note=block.note, created_by=created_by,
            )
            .returning(AccessBlockRow)
        )
        assert row is not None
        publish_after_commit(self._session, BlocksChanged(patient_id))
        return _block(row)

    async def active(self, patient_id: str) -> list[Block]:
        rows = await self._session.scalars(
            select(AccessBlockRow)
            .where(AccessBlockRow.patient_id == patient_id, AccessBlockRow.revoked_at.is_(None))
            .order_by(AccessBlockRow.created_at)
        )
        return [_block(row) for row in rows]

    async def revoke(self, patient_id: str, block_id: uuid.UUID) -> bool:
        result = await self._session.execute(
            update(AccessBlockRow)
            .where(
                AccessBlockRow.patient_id == patient_id,
                AccessBlockRow.block_id == block_id,
                AccessBlockRow.revoked_at.is_(None),
            )
            .values(revoked_at=func.clock_timestamp())
        )
        publish_after_commit(self._session, BlocksChanged(patient_id))
        # An UPDATE gives a CursorResult, which has rowcount; SQLAlchemy types AsyncSession.execute as Result.
        return bool(result.rowcount)  # type: ignore[attr-defined]


def active_block_keys(patient: BindParameter[str]) -> Label[list[str] | None]:
    """The patient's active blocks as one array of 'kind:value' (NULL when there are none), for a statement
    that reads other things in the same round trip."""
    key = AccessBlockRow.kind.concat(":").concat(AccessBlockRow.value)
    return (
        select(func.array_agg(key))
        .where(AccessBlockRow.patient_id == patient, AccessBlockRow.revoked_at.is_(None))
        .scalar_subquery()
        .label("blocks")
    )


async def blocked_keys(connection: AsyncConnection, patient_id: str) -> frozenset[str]:
    """Every active block as 'clinician:<hpr>' or 'organisation:<orgnr>', for the access check. One Core
    statement built once, on a plain connection: every patient request that misses the cache runs it."""
    keys = (await connection.execute(_ACTIVE_BLOCK_KEYS, {"patient_id": patient_id})).scalar()
    return frozenset(keys or ())


# The same keys as the list read's combined statement reads them (one definition of an active block).
_ACTIVE_BLOCK_KEYS = select(active_block_keys(bindparam("patient_id")))
