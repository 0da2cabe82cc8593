"""The audit table: append-only (a trigger refuses UPDATE, DELETE and TRUNCATE), keyed by patient first."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, DateTime, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from pml.db.base import Base
from pml.medication_list.models import PATIENT_ID


class AuditRecordRow(Base):
    __tablename__ = "audit_record"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    audit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
    actor_subject: Mapped[str] = mapped_column(String(200), nullable=False)
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_hpr: Mapped[str | None] = mapped_column(String(9))
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    organisation: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    purpose: Mapped[str | None] = mapped_column(String(64))
    emergency: Mapped[bool] = mapped_column(Boolean, nullable=False)
    emergency_reason: Mapped[str | None] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_audit_record_actor", "actor_subject", "recorded_at"),
        Index("ix_audit_record_patient_time", "patient_id", "recorded_at"),
    )
