"""What PML keeps of an issued card and of the feedback on it."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class FeedbackOutcome(StrEnum):
    ACCEPTED = "accepted"
    OVERRIDDEN = "overridden"


class IssuedCard(BaseModel):
    model_config = ConfigDict(frozen=True)

    card_uuid: uuid.UUID
    service_id: str
    hook_instance: uuid.UUID
    kind: str = Field(description="interaction, duplication, not-assessed or unchecked")
    indicator: str
    summary: str
    interaction_id: str | None
    release_id: str
    draft_refs: list[str]
    suggestion_uuids: list[str]


class CardFeedback(BaseModel):
    model_config = ConfigDict(frozen=True)

    card_uuid: uuid.UUID
    outcome: FeedbackOutcome
    accepted_suggestions: list[str]
    override_reason: dict[str, str] | None
    user_comment: str | None
    outcome_at: dt.datetime


class RecordedFeedback(CardFeedback):
    patient_id: str
    service_id: str
    recorded_by: str
    recorded_at: dt.datetime
