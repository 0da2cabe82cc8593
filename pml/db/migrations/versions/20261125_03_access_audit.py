"""Access control: the append-only audit log and patients' access blocks (sperring).

Revision ID: 20261125_03
Revises: 20261125_01
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_03"
down_revision: str | None = "20261125_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("clock_timestamp()")


def upgrade() -> None:
    op.create_table(
        "audit_record",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("audit_id", sa.UUID(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("actor_subject", sa.String(200), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=True),
        sa.Column("actor_hpr", sa.String(9), nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("organisation", sa.String(32), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=True),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("emergency_reason", sa.String(500), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("patient_id", "audit_id", name=op.f("pk_audit_record")),
    )
    op.create_index("ix_audit_record_actor", "audit_record", ["actor_subject", "recorded_at"])
    op.create_index("ix_audit_record_patient_time", "audit_record", ["patient_id", "recorded_at"])
    # pml_refuse_rewrite() comes with the first revision; the audit log is evidence just like the history.
    op.execute(
        "CREATE TRIGGER audit_record_append_only BEFORE UPDATE OR DELETE ON audit_record "
        "FOR EACH ROW EXECUTE FUNCTION pml_refuse_rewrite()"
    )
    op.execute(
        "CREATE TRIGGER audit_record_no_truncate BEFORE TRUNCATE ON audit_record "
        "FOR EACH STATEMENT EXECUTE FUNCTION pml_refuse_rewrite()"
    )
    op.create_table(
        "access_block",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("block_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(32), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("patient_id", "block_id", name=op.f("pk_access_block")),
    )


def downgrade() -> None:
    op.drop_table("access_block")
    op.drop_table("audit_record")
