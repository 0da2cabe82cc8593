"""All SQL of change events: the outbox, subscriptions and webhook deliveries."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, bindparam, exists, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from pml.events.models import EventOutboxRow, EventSubscriptionRow, WebhookDeliveryRow
from pml.events.schemas import ChangeEvent, Delivery, DeliveryStatus, Subscription

DeliveryKey = tuple[str, uuid.UUID, int]  # patient, subscription, version

# The Core tables, for statements that bind many rows at once or need an alias of the same table. SQLAlchemy
# types `__table__` as FromClause; a declarative class with `__tablename__` always has a Table.
_OUTBOX: Table = EventOutboxRow.__table__  # type: ignore[assignment]
_DELIVERY: Table = WebhookDeliveryRow.__table__  # type: ignore[assignment]


def _event(row: EventOutboxRow) -> ChangeEvent:
    return ChangeEvent.of(
        event_id=row.event_id,
        patient_id=row.patient_id,
        version=row.version,
        action=row.action,
        entry_id=row.entry_id,
        source=row.source,
        organisation=row.organisation,
        recorded_at=row.recorded_at,
    )


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def pending(self, limit: int) -> list[ChangeEvent]:
        """The oldest unpublished events, in commit order (each patient's in version order)."""
        rows = await self._session.scalars(
            select(EventOutboxRow)
            .where(EventOutboxRow.published_at.is_(None))
            .order_by(EventOutboxRow.seq)
            .limit(limit)
        )
        return [_event(row) for row in rows]

    async def mark_published(self, published: list[tuple[str, int, str | None]]) -> None:
        """Mark (patient, version) rows published, with their stream id (None: it was in the stream
        already)."""
        if not published:
            return
        statement = (
            update(_OUTBOX)
            .where(
                _OUTBOX.c.patient_id == bindparam("b_patient"), _OUTBOX.c.version == bindparam("b_version")
            )
            .values(published_at=func.clock_timestamp(), stream_id=bindparam("b_stream"))
        )
        params = [{"b_patient": p, "b_version": v, "b_stream": s} for p, v, s in published]
        await self._session.execute(statement, params)

    async def count_pending(self) -> int:
        count = await self._session.scalar(
            select(func.count()).select_from(EventOutboxRow).where(EventOutboxRow.published_at.is_(None))
        )
        return count or 0


@dataclass(frozen=True, slots=True)
class ActiveSubscription:
    id: uuid.UUID
    patient_ids: frozenset[str] | None
    created_at: dt.datetime

    def wants(self, event: ChangeEvent) -> bool:
        """Events recorded after it was registered, of its patients (all when it names none)."""
        in_filter = self.patient_ids is None or event.patient_id in self.patient_ids
        return in_filter and event.recorded_at >= self.created_at


def _subscription(row: EventSubscriptionRow) -> Subscription:
    return Subscription(
        id=row.subscription_id,
        url=row.url,
        description=row.description,
        patient_ids=row.patient_ids,
        created_at=row.created_at,
        active=row.deactivated_at is None,
    )


@dataclass(frozen=True, slots=True)
class StoredSubscription:
    subscription: Subscription
    owner_subject: str


class SubscriptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        *,
        owner_subject: str,
        owner_organisation: str | None,
        url: str,
        secret: str,
        description: str | None,
        patient_ids: list[str] | None,
    ) -> Subscription:
        row = await self._session.scalar(
            insert(EventSubscriptionRow)
            .values(
                subscription_id=uuid.uuid4(),
                owner_subject=owner_subject,
                owner_organisation=owner_organisation,
                url=url,
                secret=secret,
                description=description,
                patient_ids=patient_ids,
            )
            .returning(EventSubscriptionRow)
        )
        assert row is not None
        return _subscription(row)

    async def get(self, subscription_id: uuid.UUID) -> StoredSubscription | None:
        row = await self._session.get(EventSubscriptionRow, subscription_id)
        return None if row is None else StoredSubscription(_subscription(row), row.owner_subject)

    async def of_owner(self, owner_subject: str) -> list[Subscription]:
        rows = await self._session.scalars(
            select(EventSubscriptionRow)
            .where(EventSubscriptionRow.owner_subject == owner_subject)
            .order_by(EventSubscriptionRow.created_at)
        )
        return [_subscription(row) for row in rows]

    async def deactivate(self, subscription_id: uuid.UUID) -> None:
        await self._session.execute(
            update(EventSubscriptionRow)
            .where(EventSubscriptionRow.subscription_id == subscription_id)
            .values(deactivated_at=func.clock_timestamp())
        )

    async def active(self) -> list[ActiveSubscription]:
        rows = await self._session.scalars(
            select(EventSubscriptionRow).where(EventSubscriptionRow.deactivated_at.is_(None))
        )
        return [
            ActiveSubscription(
                row.subscription_id, frozenset(row.patient_ids) if row.patient_ids else None, row.created_at
            )
            for row in rows
        ]


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery claimed for sending, with what sending needs."""

    key: DeliveryKey
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    body: dict[str, Any]
    attempts: int
    url: str
    secret: str
    owner_subject: str
    owner_organisation: str | None


def _delivery(row: WebhookDeliveryRow) -> Delivery:
    pending = row.status == DeliveryStatus.PENDING
    return Delivery(
        id=row.delivery_id,
        subscription_id=row.subscription_id,
        patient_id=row.patient_id,
        version=row.version,
        event_id=row.event_id,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if pending else None,
        delivered_at=row.delivered_at,
        dead_at=row.dead_at,
    )


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def enqueue(self, event: ChangeEvent, subscription_ids: list[uuid.UUID]) -> None:
        """One pending delivery per subscription; an event fanned out twice (at least once) enqueues once."""
        if not subscription_ids:
            return
        rows = [
            {
                "patient_id": event.patient_id,
                "subscription_id": sid,
                "version": event.version,
                "delivery_id": uuid.uuid4(),
                "event_id": event.event_id,
                "body": event.model_dump(mode="json"),
            }
            for sid in subscription_ids
        ]
        await self._session.execute(pg_insert(WebhookDeliveryRow).values(rows).on_conflict_do_nothing())

    async def claim_due(self, limit: int, lease: dt.timedelta) -> list[DueDelivery]:
        """Due deliveries, leased to this sender. Never a patient's later event for a subscription while an
        earlier one is still pending (being tried, or waiting to be retried): each subscriber gets a
        patient's events in version order."""
        d, earlier = _DELIVERY, _DELIVERY.alias("earlier")
        now = func.clock_timestamp()
        earlier_pending = exists().where(
            earlier.c.patient_id == d.c.patient_id,
            earlier.c.subscription_id == d.c.subscription_id,
            earlier.c.version < d.c.version,
            earlier.c.status == DeliveryStatus.PENDING.value,
        )
        picked = (
            await self._session.execute(
                select(d.c.patient_id, d.c.subscription_id, d.c.version)
                .where(
                    d.c.status == DeliveryStatus.PENDING.value,
                    d.c.next_attempt_at <= now,
                    or_(d.c.lease_until.is_(None), d.c.lease_until < now),
                    ~earlier_pending,
                )
                .order_by(d.c.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True, of=d)
            )
        ).all()
        if not picked:
            return []
        keys = [tuple(row) for row in picked]
        key_match = tuple_(d.c.patient_id, d.c.subscription_id, d.c.version).in_(keys)
        await self._session.execute(update(d).where(key_match).values(lease_until=now + lease))
        return await self._due(key_match)

    async def _due(self, key_match: Any) -> list[DueDelivery]:
        s = EventSubscriptionRow
        rows = await self._session.execute(
            select(WebhookDeliveryRow, s.url, s.secret, s.owner_subject, s.owner_organisation)
            .join(s, s.subscription_id == WebhookDeliveryRow.subscription_id)
            .where(key_match)
            .order_by(WebhookDeliveryRow.version)
        )
        return [
            DueDelivery(
                (row.patient_id, row.subscription_id, row.version),
                row.delivery_id,
                row.event_id,
                row.body,
                row.attempts,
                url,
                secret,
                owner,
                organisation,
            )
            for row, url, secret, owner, organisation in rows.all()
        ]

    async def delivered(self, key: DeliveryKey, status_code: int) -> None:
        await self._update(
            key,
            status=DeliveryStatus.DELIVERED.value,
            attempts=WebhookDeliveryRow.attempts + 1,
            last_status_code=status_code,
            last_error=None,
            delivered_at=func.clock_timestamp(),
            lease_until=None,
        )

    async def failed(
        self, key: DeliveryKey, status_code: int | None, error: str, retry_in: dt.timedelta | None
    ) -> None:
        """Record a failed attempt: retry after `retry_in`, or dead-letter it when that is None."""
        values: dict[str, Any] = {
            "attempts": WebhookDeliveryRow.attempts + 1,
            "last_status_code": status_code,
            "last_error": error[:1000],
            "lease_until": None,
        }
        if retry_in is None:
            values |= {"status": DeliveryStatus.DEAD.value, "dead_at": func.clock_timestamp()}
        else:
            values["next_attempt_at"] = func.clock_timestamp() + retry_in
        await self._update(key, **values)

    async def _update(self, key: DeliveryKey, **values: Any) -> None:
        patient_id, subscription_id, version = key
        await self._session.execute(
            update(WebhookDeliveryRow)
            .where(
                WebhookDeliveryRow.patient_id == patient_id,
                WebhookDeliveryRow.subscription_id == subscription_id,
                WebhookDeliveryRow.version == version,
            )
            .values(**values)
        )

    async def of_subscription(
        self, subscription_id: uuid.UUID, status: DeliveryStatus | None, limit: int
    ) -> list[Delivery]:
        query = select(WebhookDeliveryRow).where(WebhookDeliveryRow.subscription_id == subscription_id)
        if status is not None:
            query = query.where(WebhookDeliveryRow.status == status.value)
        rows = await self._session.scalars(query.order_by(WebhookDeliveryRow.created_at.desc()).limit(limit))
        return [_delivery(row) for row in rows]

    async def cancel_pending(self, subscription_id: uuid.UUID) -> None:
        await self._session.execute(
            update(WebhookDeliveryRow)
            .where(
                WebhookDeliveryRow.subscription_id == subscription_id,
                WebhookDeliveryRow.status == DeliveryStatus.PENDING.value,
            )
            .values(status=DeliveryStatus.CANCELLED.value, lease_until=None)
        )

    async def requeue_dead(self, subscription_id: uuid.UUID, delivery_id: uuid.UUID) -> Delivery | None:
        """A dead-lettered delivery back in the queue, tried again now with a fresh count of attempts."""
        row = await self._session.scalar(
            update(WebhookDeliveryRow)
            .where(
                and_(
                    WebhookDeliveryRow.subscription_id == subscription_id,
                    WebhookDeliveryRow.delivery_id == delivery_id,
                    WebhookDeliveryRow.status == DeliveryStatus.DEAD.value,
                )
            )
            .values(
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                dead_at=None,
                next_attempt_at=func.clock_timestamp(),
            )
            .returning(WebhookDeliveryRow)
        )
        return None if row is None else _delivery(row)

    async def find(self, subscription_id: uuid.UUID, delivery_id: uuid.UUID) -> Delivery | None:
        row = await self._session.scalar(
            select(WebhookDeliveryRow).where(
                WebhookDeliveryRow.subscription_id == subscription_id,
                WebhookDeliveryRow.delivery_id == delivery_id,
            )
        )
        return None if row is None else _delivery(row)
