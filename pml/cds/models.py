"""CDS Hooks cards PML issued and the feedback on them: append-only evidence of what a prescriber was told and
what they decided (a trigger refuses UPDATE, DELETE and TRUNCATE). Keyed by patient first, like every
table."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from pml.db.base import Base
from pml.medication_list.models import PATIENT_ID

NOW = text("clock_timestamp()")


class CdsCardRow(Base):
    __tablename__ = "cds_card"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    card_uuid: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64), nullable=False)
    hook_instance: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    indicator: Mapped[str] = mapped_column(String(16), nullable=False)
    summary: Mapped[str] = mapped_column(String(200), nullable=False)
    interaction_id: Mapped[str | None] = mapped_column(String(64))
    release_id: Mapped[str] = mapped_column(String(64), nullable=False)
    draft_refs: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    suggestion_uuids: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    issued_to: Mapped[str] = mapped_column(String(200), nullable=False)
    issued_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=NOW
    )

    # Feedback names only the card, not the patient.
    __table_args__ = (Index("ix_cds_card_card_uuid", "card_uuid"),)


class CdsFeedbackRow(Base):
    __tablename__ = "cds_feedback"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    feedback_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    card_uuid: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    service_id: Mapped[str] = mapped_column(String(64), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    override_reason: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    user_comment: Mapped[str | None] = mapped_column(Text)
    outcome_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(200), nullable=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=NOW
    )

    __table_args__ = (Index("ix_cds_feedback_card_uuid", "card_uuid"),)
