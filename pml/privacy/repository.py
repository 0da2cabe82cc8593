"""All SQL of access blocks."""

from __future__ import annotations

import uuid

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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

    async def is_blocked(self, patient_id: str, hpr_number: str | None, organisation: str | None) -> bool:
        matches = []
        if hpr_number:
            matches.append((AccessBlockRow.kind == BlockKind.CLINICIAN.value) & (AccessBlockRow.value == hpr_number))
        if organisation:
            matches.append(
                (AccessBlockRow.kind == BlockKind.ORGANISATION.value) & (AccessBlockRow.value == organisation)
            )
        if not matches:
            return False
        found = await self._session.scalar(
            select(AccessBlockRow.block_id)
            .where(AccessBlockRow.patient_id == patient_id, AccessBlockRow.revoked_at.is_(None), or_(*matches))
            .limit(1)
        )
        return found is not None

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
        return bool(result.rowcount)  # type: ignore[attr-defined]
