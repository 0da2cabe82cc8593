"""Catalogue releases: the release header, its activation log, and its records as JSONB per kind.

Revision ID: 20261125_02
Revises: 20261125_01
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261125_02"
down_revision: str | None = "20261125_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("clock_timestamp()")
EMPTY_OBJECT = sa.text("'{}'")

# (table, id column, extra query columns) of every record table; each keys on (release_id, id).
RECORD_TABLES: tuple[tuple[str, str, tuple[tuple[str, sa.types.TypeEngine[Any], bool], ...]], ...] = (
    ("catalogue_product", "product_id", (("atc", sa.Text(), True),)),
    (
        "catalogue_package",
        "package_id",
        (
            ("varenr", sa.Text(), False),
            ("ean", sa.Text(), True),
            ("product_id", sa.Text(), True),
            ("atc", sa.Text(), True),
        ),
    ),
    ("catalogue_substance", "substance_id", (("atc", sa.Text(), True),)),
    ("catalogue_substance_strength", "strength_id", (("substance_id", sa.Text(), True),)),
    ("catalogue_swap_group", "swap_group_id", (("code", sa.Text(), False),)),
    (
        "catalogue_interaction",
        "interaction_id",
        (("entry_id", sa.Text(), False), ("relevans", sa.SmallInteger(), False)),
    ),
    ("catalogue_not_assessed", "entry_id", (("atc", sa.Text(), False),)),
)


def _create_release_table() -> None:
    op.create_table(
        "catalogue_release",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("source_name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("hentet_dato", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", postgresql.JSONB(), server_default=EMPTY_OBJECT, nullable=False),
        sa.Column("withdrawn", postgresql.JSONB(), server_default=EMPTY_OBJECT, nullable=False),
        sa.Column("skipped", postgresql.JSONB(), server_default=EMPTY_OBJECT, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("load_seconds", sa.Float(), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('loading', 'loaded', 'active', 'previous', 'failed')",
            name=op.f("ck_catalogue_release_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_release")),
    )
    # A file is loaded once; a failed attempt does not block loading the same file again.
    op.create_index(
        "uq_catalogue_release_sha256",
        "catalogue_release",
        ["sha256"],
        unique=True,
        postgresql_where=sa.text("status <> 'failed'"),
    )
    # At most one active and one previous release, whatever the application does.
    for status in ("active", "previous"):
        op.create_index(
            f"uq_catalogue_release_one_{status}",
            "catalogue_release",
            ["status"],
            unique=True,
            postgresql_where=sa.text(f"status = '{status}'"),
        )


def _create_activation_table() -> None:
    op.create_table(
        "catalogue_activation",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("replaced_release_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "action IN ('activate', 'rollback')", name=op.f("ck_catalogue_activation_action_known")
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["catalogue_release.id"],
            name=op.f("fk_catalogue_activation_release_id_catalogue_release"),
        ),
        sa.ForeignKeyConstraint(
            ["replaced_release_id"],
            ["catalogue_release.id"],
            name=op.f("fk_catalogue_activation_replaced_release_id_catalogue_release"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_activation")),
    )


def _create_record_table(
    table: str, id_column: str, extra: tuple[tuple[str, sa.types.TypeEngine[Any], bool], ...]
) -> None:
    op.create_table(
        table,
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column(id_column, sa.Text(), nullable=False),
        *(sa.Column(name, type_, nullable=nullable) for name, type_, nullable in extra),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["catalogue_release.id"],
            name=op.f(f"fk_{table}_release_id_catalogue_release"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("release_id", id_column, name=op.f(f"pk_{table}")),
    )


def upgrade() -> None:
    _create_release_table()
    _create_activation_table()
    for table, id_column, extra in RECORD_TABLES:
        _create_record_table(table, id_column, extra)
    op.create_index("ix_catalogue_product_release_atc", "catalogue_product", ["release_id", "atc"])
    op.create_index("ix_catalogue_package_release_varenr", "catalogue_package", ["release_id", "varenr"])


def downgrade() -> None:
    for table, _id_column, _extra in reversed(RECORD_TABLES):
        op.drop_table(table)
    op.drop_table("catalogue_activation")
    op.drop_table("catalogue_release")
