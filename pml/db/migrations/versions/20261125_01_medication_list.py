"""The medication list: header, materialised entries, append-only change history, idempotency records.

Revision ID: 20261125_01
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261125_01"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("clock_timestamp()")

# History is evidence: the database itself refuses to rewrite it, whatever the application does.
REFUSE_REWRITE_FUNCTION = """
CREATE FUNCTION pml_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def _append_only(table: str) -> None:
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION pml_refuse_rewrite()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION pml_refuse_rewrite()"
    )


def upgrade() -> None:
    op.create_table(
        "patient_list",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reviewed_by", postgresql.JSONB(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_version", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint("version >= 0", name=op.f("ck_patient_list_version_not_negative")),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_patient_list")),
    )
    op.create_table(
        "list_entry",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("entry_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("atc", sa.String(7), nullable=True),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.Column("created_version", sa.Integer(), nullable=False),
        sa.Column("updated_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient_list.patient_id"], name=op.f("fk_list_entry_patient_id_patient_list")
        ),
        sa.PrimaryKeyConstraint("patient_id", "entry_id", name=op.f("pk_list_entry")),
    )
    op.create_table(
        "list_change",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("entry_id", sa.UUID(), nullable=True),
        sa.Column("actor", postgresql.JSONB(), nullable=False),
        sa.Column("organisation", sa.String(32), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("before", postgresql.JSONB(), nullable=True),
        sa.Column("after", postgresql.JSONB(), nullable=True),
        sa.CheckConstraint("version > 0", name=op.f("ck_list_change_version_positive")),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient_list.patient_id"], name=op.f("fk_list_change_patient_id_patient_list")
        ),
        sa.PrimaryKeyConstraint("patient_id", "version", name=op.f("pk_list_change")),
    )
    op.create_table(
        "idempotency_record",
        sa.Column("patient_id", sa.String(11), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_headers", postgresql.JSONB(), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "idempotency_key", name=op.f("pk_idempotency_record")),
    )
    op.execute(REFUSE_REWRITE_FUNCTION)
    _append_only("list_change")


def downgrade() -> None:
    op.drop_table("idempotency_record")
    op.drop_table("list_change")
    op.drop_table("list_entry")
    op.drop_table("patient_list")
    op.execute("DROP FUNCTION pml_refuse_rewrite()")
