"""Tables of the medication list. Every table carries `patient_id` first in its key, so the data can be
hash-partitioned or distributed (Citus) by patient without a redesign."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from pml.db.base import Base

PATIENT_ID = String(11)


class PatientListRow(Base):
    """The list header: its current version and the reviewed (ajourført) marker."""

    __tablename__ = "patient_list"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    reviewed_by: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )

    __table_args__ = (CheckConstraint("version >= 0", name="version_not_negative"),)


class ListEntryRow(Base):
    """The materialised current entry, kept in step with the change history in the same transaction."""

    __tablename__ = "list_entry"

    patient_id: Mapped[str] = mapped_column(
        PATIENT_ID, ForeignKey("patient_list.patient_id"), primary_key=True
    )
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    atc: Mapped[str | None] = mapped_column(String(7))
    body: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    created_version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_version: Mapped[int] = mapped_column(Integer, nullable=False)


class ListChangeRow(Base):
    """One committed change: append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "list_change"

    patient_id: Mapped[str] = mapped_column(
        PATIENT_ID, ForeignKey("patient_list.patient_id"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
    action: Mapped[str] = mapped_column(String(24), nullable=False)
    entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    organisation: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    provenance: Mapped[dict[str, object] | None] = mapped_column(JSONB)  # added by 20261125_04

    __table_args__ = (CheckConstraint("version > 0", name="version_positive"),)
