"""Reconciliation: verbatim source snapshots, proposals and their findings, decisions; and the provenance of a
list change (which snapshot, proposal, finding and decision it came from).

Revision ID: 20261125_04
Revises: 20261125_01
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261125_04"
down_revision: str | None = "20261125_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("clock_timestamp()")


def _append_only(table: str) -> None:
    """What a source sent and what a clinician decided are evidence: the database refuses to rewrite them
    (pml_refuse_rewrite() comes with 20261125_01)."""
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION pml_refuse_rewrite()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION pml_refuse_rewrite()"
    )


def _create_snapshot_table() -> None:
    op.create_table(
        "source_snapshot",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("snapshot_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("actor", postgresql.JSONB(), nullable=False),
        sa.Column("organisation", sa.String(32), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sender_system", sa.String(200), nullable=True),
        sa.Column("document_id", sa.String(200), nullable=True),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("raw_body", sa.LargeBinary(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("patient_id", "snapshot_id", name=op.f("pk_source_snapshot")),
        sa.UniqueConstraint("patient_id", "idempotency_key", name="uq_source_snapshot_idempotency"),
    )
    op.create_index("ix_source_snapshot_received", "source_snapshot", ["patient_id", "received_at"])
    _append_only("source_snapshot")


def _create_proposal_table() -> None:
    op.create_table(
        "reconciliation_proposal",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("proposal_id", sa.UUID(), nullable=False),
        sa.Column("snapshot_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("list_version", sa.Integer(), nullable=False),
        sa.Column("catalogue_release", sa.String(100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("superseded_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id", "snapshot_id"],
            ["source_snapshot.patient_id", "source_snapshot.snapshot_id"],
            name="fk_reconciliation_proposal_snapshot",
        ),
        sa.PrimaryKeyConstraint("patient_id", "proposal_id", name=op.f("pk_reconciliation_proposal")),
    )
    op.create_index("ix_reconciliation_proposal_status", "reconciliation_proposal", ["patient_id", "status"])


def _create_finding_table() -> None:
    op.create_table(
        "reconciliation_finding",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("finding_id", sa.UUID(), nullable=False),
        sa.Column("proposal_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("finding_class", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("source_entry_index", sa.Integer(), nullable=True),
        sa.Column("list_entry_id", sa.UUID(), nullable=True),
        sa.Column("action", postgresql.JSONB(), nullable=True),
        sa.Column("evidence", postgresql.JSONB(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("computed_at_version", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id", "proposal_id"],
            ["reconciliation_proposal.patient_id", "reconciliation_proposal.proposal_id"],
            name="fk_reconciliation_finding_proposal",
        ),
        sa.PrimaryKeyConstraint("patient_id", "finding_id", name=op.f("pk_reconciliation_finding")),
    )
    op.create_index(
        "ix_reconciliation_finding_proposal",
        "reconciliation_finding",
        ["patient_id", "proposal_id", "position"],
    )


def _create_decision_table() -> None:
    op.create_table(
        "reconciliation_decision",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("decision_id", sa.UUID(), nullable=False),
        sa.Column("proposal_id", sa.UUID(), nullable=False),
        sa.Column("finding_id", sa.UUID(), nullable=False),
        sa.Column("snapshot_id", sa.UUID(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("finding_class", sa.String(32), nullable=False),
        sa.Column("action", postgresql.JSONB(), nullable=True),
        sa.Column("actor", postgresql.JSONB(), nullable=False),
        sa.Column("policy", sa.String(64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("list_version_before", sa.Integer(), nullable=False),
        sa.Column("list_version_after", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id", "finding_id"],
            ["reconciliation_finding.patient_id", "reconciliation_finding.finding_id"],
            name="fk_reconciliation_decision_finding",
        ),
        sa.PrimaryKeyConstraint("patient_id", "decision_id", name=op.f("pk_reconciliation_decision")),
    )
    op.create_index(
        "ix_reconciliation_decision_decided", "reconciliation_decision", ["patient_id", "decided_at"]
    )
    _append_only("reconciliation_decision")


def upgrade() -> None:
    _create_snapshot_table()
    _create_proposal_table()
    _create_finding_table()
    _create_decision_table()
    op.add_column("list_change", sa.Column("provenance", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("list_change", "provenance")
    op.drop_table("reconciliation_decision")
    op.drop_table("reconciliation_finding")
    op.drop_table("reconciliation_proposal")
    op.drop_table("source_snapshot")
