"""All SQL of issued CDS cards and their feedback. Append-only: nothing here updates or deletes."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from pml.cds.models import CdsCardRow, CdsFeedbackRow
from pml.cds.schemas import CardFeedback, IssuedCard, RecordedFeedback


class CdsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record_cards(self, patient_id: str, issued_to: str, cards: list[IssuedCard]) -> None:
        if not cards:
            return
        rows = [
            card.model_dump(mode="json") | {"patient_id": patient_id, "issued_to": issued_to}
            for card in cards
        ]
        await self._session.execute(insert(CdsCardRow), rows)

    async def card(self, card_uuid: uuid.UUID) -> tuple[str, IssuedCard] | None:
        row = await self._session.scalar(select(CdsCardRow).where(CdsCardRow.card_uuid == card_uuid))
        if row is None:
            return None
        return row.patient_id, IssuedCard.model_validate(row, from_attributes=True)

    async def record_feedback(
        self, patient_id: str, service_id: str, recorded_by: str, feedback: CardFeedback
    ) -> None:
        await self._session.execute(
            insert(CdsFeedbackRow).values(
                patient_id=patient_id,
                feedback_id=uuid.uuid4(),
                service_id=service_id,
                recorded_by=recorded_by,
                **feedback.model_dump(mode="json"),
            )
        )

    async def feedback_for(self, card_uuid: uuid.UUID) -> list[RecordedFeedback]:
        rows = await self._session.scalars(
            select(CdsFeedbackRow)
            .where(CdsFeedbackRow.card_uuid == card_uuid)
            .order_by(CdsFeedbackRow.recorded_at)
        )
        return [RecordedFeedback.model_validate(row, from_attributes=True) for row in rows]
