"""Home care: administration records (given / partly given / not given), append-only with correction chains.

Revision ID: 20261125_05
Revises: 20261125_01
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261125_05"
down_revision: str | None = "20261125_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("clock_timestamp()")
TABLE = "administration_record"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("record_id", sa.UUID(), nullable=False),
        sa.Column("entry_id", sa.UUID(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dose_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("amount", sa.Numeric(16, 4), nullable=True),
        sa.Column("unit", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("recorded_by", postgresql.JSONB(), nullable=False),
        sa.Column("actor_subject", sa.String(200), nullable=False),
        sa.Column("organisation", sa.String(32), nullable=True),
        sa.Column("list_version", sa.Integer(), nullable=False),
        sa.Column("corrects_record_id", sa.UUID(), nullable=True),
        sa.Column("flagged_for_review", sa.Boolean(), nullable=False),
        sa.Column("review_reasons", postgresql.JSONB(), nullable=False),
        sa.Column("entry_snapshot", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "record_id", name=op.f("pk_administration_record")),
        sa.ForeignKeyConstraint(
            ["patient_id", "entry_id"],
            ["list_entry.patient_id", "list_entry.entry_id"],
            name=op.f("fk_administration_record_patient_id_list_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id", "corrects_record_id"],
            [f"{TABLE}.patient_id", f"{TABLE}.record_id"],
            name=op.f("fk_administration_record_patient_id_administration_record"),
        ),
        sa.UniqueConstraint("patient_id", "corrects_record_id", name="uq_administration_record_corrects"),
        sa.CheckConstraint(
            "list_version >= 0", name=op.f("ck_administration_record_list_version_not_negative")
        ),
        sa.CheckConstraint(
            "outcome IN ('given', 'partly_given', 'not_given', 'entered_in_error')",
            name=op.f("ck_administration_record_outcome_known"),
        ),
        sa.CheckConstraint(
            "(outcome = 'not_given') = (reason IS NOT NULL)",
            name=op.f("ck_administration_record_reason_iff_not_given"),
        ),
        sa.CheckConstraint(
            "outcome <> 'partly_given' OR amount IS NOT NULL",
            name=op.f("ck_administration_record_partly_given_has_amount"),
        ),
        sa.CheckConstraint(
            "outcome <> 'entered_in_error' OR corrects_record_id IS NOT NULL",
            name=op.f("ck_administration_record_error_only_as_correction"),
        ),
    )
    op.create_index("ix_administration_record_patient_dose_at", TABLE, ["patient_id", "dose_at"])
    # What happened at a visit is evidence: pml_refuse_rewrite() (revision 20261125_01) refuses rewrites.
    op.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION pml_refuse_rewrite()"
    )
    op.execute(
        f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION pml_refuse_rewrite()"
    )


def downgrade() -> None:
    op.drop_table(TABLE)
