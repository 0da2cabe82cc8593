"""Tables of reconciliation. Every table carries `patient_id` first in its key, like the medication list, so
all of a patient's rows can live on one shard.

- `source_snapshot`: what a source sent, verbatim, append-only (a trigger refuses UPDATE and DELETE).
- `reconciliation_proposal` and `reconciliation_finding`: a snapshot's findings against a stated list version;
  finding states move as clinicians decide and as the proposal is re-evaluated.
- `reconciliation_decision`: every decision, by a person or by the auto-apply policy, append-only.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from pml.db.base import Base
from pml.medication_list.models import PATIENT_ID

NOW = text("clock_timestamp()")


class SourceSnapshotRow(Base):
    __tablename__ = "source_snapshot"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    snapshot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    actor: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    organisation: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=NOW
    )
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    sender_system: Mapped[str | None] = mapped_column(String(200))
    document_id: Mapped[str | None] = mapped_column(String(200))
    entry_count: Mapped[int] = mapped_column(Integer, nullable=False)
    raw_body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    content_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("patient_id", "idempotency_key", name="uq_source_snapshot_idempotency"),
        Index("ix_source_snapshot_received", "patient_id", "received_at"),
    )


class ProposalRow(Base):
    __tablename__ = "reconciliation_proposal"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    proposal_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    snapshot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    list_version: Mapped[int] = mapped_column(Integer, nullable=False)
    catalogue_release: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    superseded_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=NOW
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=NOW
    )

    __table_args__ = (
        ForeignKeyConstraint(
            ["patient_id", "snapshot_id"],
            ["source_snapshot.patient_id", "source_snapshot.snapshot_id"],
            name="fk_reconciliation_proposal_snapshot",
        ),
        Index("ix_reconciliation_proposal_status", "patient_id", "status"),
    )


class FindingRow(Base):
    __tablename__ = "reconciliation_finding"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    finding_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    proposal_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    finding_class: Mapped[str] = mapped_column(String(32), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    needs_review: Mapped[bool] = mapped_column(Boolean, nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    source_entry_index: Mapped[int | None] = mapped_column(Integer)
    list_entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    action: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    evidence: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    computed_at_version: Mapped[int] = mapped_column(Integer, nullable=False)
    decision_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (
        ForeignKeyConstraint(
            ["patient_id", "proposal_id"],
            ["reconciliation_proposal.patient_id", "reconciliation_proposal.proposal_id"],
            name="fk_reconciliation_finding_proposal",
        ),
        Index("ix_reconciliation_finding_proposal", "patient_id", "proposal_id", "position"),
    )


class DecisionRow(Base):
    __tablename__ = "reconciliation_decision"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    decision_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    proposal_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    finding_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    snapshot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    finding_class: Mapped[str] = mapped_column(String(32), nullable=False)
    action: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    actor: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    policy: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=NOW
    )
    list_version_before: Mapped[int] = mapped_column(Integer, nullable=False)
    list_version_after: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        ForeignKeyConstraint(
            ["patient_id", "finding_id"],
            ["reconciliation_finding.patient_id", "reconciliation_finding.finding_id"],
            name="fk_reconciliation_decision_finding",
        ),
        Index("ix_reconciliation_decision_decided", "patient_id", "decided_at"),
    )
