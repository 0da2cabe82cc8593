"""The administration record table: append-only (a trigger refuses UPDATE, DELETE and TRUNCATE), keyed by
patient first so it can be partitioned or distributed by patient like the list itself."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from pml.db.base import Base
from pml.medication_list.models import PATIENT_ID


class AdministrationRecordRow(Base):
    """One thing a nurse recorded about one dose. A correction is a new row pointing at the row it corrects;
    each row is corrected at most once, so the records about one dose form a chain."""

    __tablename__ = "administration_record"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The time the dose belongs to (scheduled time, or when an as-needed dose was given): reads by day use it.
    dose_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    outcome: Mapped[str] = mapped_column(String(24), nullable=False)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(16, 4))
    unit: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
    recorded_by: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    actor_subject: Mapped[str] = mapped_column(String(200), nullable=False)
    organisation: Mapped[str | None] = mapped_column(String(32))
    list_version: Mapped[int] = mapped_column(Integer, nullable=False)
    corrects_record_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    flagged_for_review: Mapped[bool] = mapped_column(Boolean, nullable=False)
    review_reasons: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    # What the nurse acted on, as the list held it when the record was made (name, dose text, status).
    entry_snapshot: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)

    __table_args__ = (
        ForeignKeyConstraint(["patient_id", "entry_id"], ["list_entry.patient_id", "list_entry.entry_id"]),
        ForeignKeyConstraint(
            ["patient_id", "corrects_record_id"],
            ["administration_record.patient_id", "administration_record.record_id"],
        ),
        UniqueConstraint("patient_id", "corrects_record_id", name="uq_administration_record_corrects"),
        Index("ix_administration_record_patient_dose_at", "patient_id", "dose_at"),
        CheckConstraint("list_version >= 0", name="list_version_not_negative"),
        CheckConstraint(
            "outcome IN ('given', 'partly_given', 'not_given', 'entered_in_error')", name="outcome_known"
        ),
        CheckConstraint("(outcome = 'not_given') = (reason IS NOT NULL)", name="reason_iff_not_given"),
        CheckConstraint("outcome <> 'partly_given' OR amount IS NOT NULL", name="partly_given_has_amount"),
        CheckConstraint(
            "outcome <> 'entered_in_error' OR corrects_record_id IS NOT NULL", name="error_only_as_correction"
        ),
    )
