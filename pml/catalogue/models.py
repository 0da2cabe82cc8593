"""Tables of catalogue releases. A release is one loaded FEST file; its records are immutable once loaded.

Every record table keys on `release_id` first, so a release is one contiguous index range that can be read,
compiled or dropped as a whole. Each record is stored as JSONB in the form of its `to_dict()`, plus the few
columns we look records up by. Withdrawn (Status U) records are stored too (with `status`) and kept out of the
active view by the compiled index and the look-ups, not by leaving them out of the database.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from pml.db.base import Base

# Text, not VARCHAR(n): the values come from an external file, and a longer-than-expected code must not
# fail a load that PostgreSQL would store at the same cost.
FEST_ID = Text
CODE = Text
STATUS = Text

# Release lifecycle: loading -> loaded -> active -> previous -> loaded ..., or loading -> failed.
RELEASE_STATUSES = ("loading", "loaded", "active", "previous", "failed")


class CatalogueReleaseRow(Base):
    """One catalogue release: where it came from, what it holds, and where it is in its lifecycle."""

    __tablename__ = "catalogue_release"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    source_name: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    hentet_dato: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    counts: Mapped[dict[str, int]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'"))
    withdrawn: Mapped[dict[str, int]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'"))
    skipped: Mapped[dict[str, int]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )
    loaded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    load_seconds: Mapped[float | None] = mapped_column(Float)
    activated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            "status IN ('loading', 'loaded', 'active', 'previous', 'failed')", name="status_known"
        ),
        # A file is loaded once; a failed attempt does not block loading the same file again.
        Index(
            "uq_catalogue_release_sha256", "sha256", unique=True, postgresql_where=text("status <> 'failed'")
        ),
        # At most one active and one previous release: activation and rollback can never leave two.
        Index(
            "uq_catalogue_release_one_active",
            "status",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        Index(
            "uq_catalogue_release_one_previous",
            "status",
            unique=True,
            postgresql_where=text("status = 'previous'"),
        ),
    )


class CatalogueActivationRow(Base):
    """Append-only log of activations and rollbacks: which release was active when, and before it which."""

    __tablename__ = "catalogue_activation"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("catalogue_release.id"), nullable=False)
    replaced_release_id: Mapped[int | None] = mapped_column(ForeignKey("catalogue_release.id"))
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )

    __table_args__ = (CheckConstraint("action IN ('activate', 'rollback')", name="action_known"),)


def _release_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("catalogue_release.id", ondelete="CASCADE"), primary_key=True)


class CatalogueProductRow(Base):
    """LegemiddelMerkevare."""

    __tablename__ = "catalogue_product"

    release_id: Mapped[int] = _release_fk()
    product_id: Mapped[str] = mapped_column(FEST_ID, primary_key=True)
    atc: Mapped[str | None] = mapped_column(CODE)
    status: Mapped[str] = mapped_column(STATUS, nullable=False)
    body: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)

    __table_args__ = (Index("ix_catalogue_product_release_atc", "release_id", "atc"),)


class CataloguePackageRow(Base):
    """Legemiddelpakning: looked up by varenr (and EAN)."""

    __tablename__ = "catalogue_package"

    release_id: Mapped[int] = _release_fk()
    package_id: Mapped[str] = mapped_column(FEST_ID, primary_key=True)
    varenr: Mapped[str] = mapped_column(CODE, nullable=False)
    ean: Mapped[str | None] = mapped_column(CODE)
    product_id: Mapped[str | None] = mapped_column(FEST_ID)
    atc: Mapped[str | None] = mapped_column(CODE)
    status: Mapped[str] = mapped_column(STATUS, nullable=False)
    body: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)

    __table_args__ = (Index("ix_catalogue_package_release_varenr", "release_id", "varenr"),)


class CatalogueSubstanceRow(Base):
    """Virkestoff."""

    __tablename__ = "catalogue_substance"

    release_id: Mapped[int] = _release_fk()
    substance_id: Mapped[str] = mapped_column(FEST_ID, primary_key=True)
    atc: Mapped[str | None] = mapped_column(CODE)
    status: Mapped[str] = mapped_column(STATUS, nullable=False)
    body: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)


class CatalogueStrengthRow(Base):
    """VirkestoffMedStyrke."""

    __tablename__ = "catalogue_substance_strength"

    release_id: Mapped[int] = _release_fk()
    strength_id: Mapped[str] = mapped_column(FEST_ID, primary_key=True)
    substance_id: Mapped[str | None] = mapped_column(FEST_ID)
    status: Mapped[str] = mapped_column(STATUS, nullable=False)
    body: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)


class CatalogueSwapGroupRow(Base):
    """Byttegruppe."""

    __tablename__ = "catalogue_swap_group"

    release_id: Mapped[int] = _release_fk()
    swap_group_id: Mapped[str] = mapped_column(FEST_ID, primary_key=True)
    code: Mapped[str] = mapped_column(CODE, nullable=False)
    status: Mapped[str] = mapped_column(STATUS, nullable=False)
    body: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)


class CatalogueInteractionRow(Base):
    """Interaksjon, keyed by its stable inner Id; `entry_id` is the OppfInteraksjon Id of this version."""

    __tablename__ = "catalogue_interaction"

    release_id: Mapped[int] = _release_fk()
    interaction_id: Mapped[str] = mapped_column(FEST_ID, primary_key=True)
    entry_id: Mapped[str] = mapped_column(FEST_ID, nullable=False)
    relevans: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    status: Mapped[str] = mapped_column(STATUS, nullable=False)
    body: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)


class CatalogueNotAssessedRow(Base):
    """InteraksjonIkkeVurdert: an ATC code DMP has not assessed (keyed by its OppfInteraksjon Id)."""

    __tablename__ = "catalogue_not_assessed"

    release_id: Mapped[int] = _release_fk()
    entry_id: Mapped[str] = mapped_column(FEST_ID, primary_key=True)
    atc: Mapped[str] = mapped_column(CODE, nullable=False)
    status: Mapped[str] = mapped_column(STATUS, nullable=False)
    body: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
