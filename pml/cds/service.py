"""Recording cards and feedback. Feedback must name a card PML issued, through the same service, and accepted
suggestions must be that card's; a card may get feedback more than once (the specification allows it)."""

from __future__ import annotations

from pml.cds.errors import CardNotFound, FeedbackRefused
from pml.cds.repository import CdsRepository
from pml.cds.schemas import CardFeedback, FeedbackOutcome, IssuedCard


class CdsService:
    def __init__(self, repository: CdsRepository) -> None:
        self._repo = repository

    async def record_cards(self, patient_id: str, issued_to: str, cards: list[IssuedCard]) -> None:
        await self._repo.record_cards(patient_id, issued_to, cards)

    async def card_patient(self, service_id: str, feedback: CardFeedback) -> tuple[str, IssuedCard]:
        """The patient of the card the feedback is about, once the feedback is found to fit the card."""
        found = await self._repo.card(feedback.card_uuid)
        if found is None or found[1].service_id != service_id:
            raise CardNotFound(f"card {feedback.card_uuid} was not issued by the service {service_id}")
        patient_id, card = found
        unknown = set(feedback.accepted_suggestions) - set(card.suggestion_uuids)
        if feedback.outcome is FeedbackOutcome.ACCEPTED and unknown:
            raise FeedbackRefused(f"card {card.card_uuid} has no suggestion {sorted(unknown)[0]}")
        return patient_id, card

    async def record_feedback(
        self, patient_id: str, service_id: str, recorded_by: str, feedback: CardFeedback
    ) -> None:
        await self._repo.record_feedback(patient_id, service_id, recorded_by, feedback)
