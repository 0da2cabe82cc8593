"""Tables of change events: the outbox, webhook subscriptions and webhook deliveries.

`event_outbox` rows are written by a trigger on `list_change` (see migration 20261125_06), so no path that
records a change can forget its event, and the row commits or rolls back with the change itself.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from pml.db.base import Base
from pml.medication_list.models import PATIENT_ID

NOW = text("clock_timestamp()")


class EventOutboxRow(Base):
    """One committed list change, waiting for the relay (`published_at` is null) or published."""

    __tablename__ = "event_outbox"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Commit order within a patient (writers of one patient are serialised by the list lock), so the relay
    # reading in `seq` order publishes each patient's changes in version order.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), nullable=False, server_default=text("gen_random_uuid()")
    )
    action: Mapped[str] = mapped_column(String(24), nullable=False)
    entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    organisation: Mapped[str | None] = mapped_column(String(32))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=NOW
    )
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    stream_id: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (Index("ix_event_outbox_pending", "seq", postgresql_where=text("published_at IS NULL")),)


class EventSubscriptionRow(Base):
    """A webhook a system registered: its URL, the secret its deliveries are signed with, an optional patient
    filter. Unregistering deactivates it (deliveries keep their history)."""

    __tablename__ = "event_subscription"

    subscription_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    owner_subject: Mapped[str] = mapped_column(String(200), nullable=False)
    owner_organisation: Mapped[str | None] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text, nullable=False)
    secret: Mapped[str] = mapped_column(String(128), nullable=False)
    description: Mapped[str | None] = mapped_column(String(200))
    patient_ids: Mapped[list[str] | None] = mapped_column(ARRAY(String(11)))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=NOW
    )
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_event_subscription_owner", "owner_subject"),)


class WebhookDeliveryRow(Base):
    """One event for one subscription: pending (with its next attempt), delivered, dead (after the last try)
    or cancelled (the subscription was removed)."""

    __tablename__ = "webhook_delivery"

    patient_id: Mapped[str] = mapped_column(PATIENT_ID, primary_key=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    body: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_attempt_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=NOW
    )
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=NOW
    )
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    dead_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_webhook_delivery_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_webhook_delivery_subscription", "subscription_id", "status", "created_at"),
        Index("ix_webhook_delivery_id", "delivery_id"),
    )
