"""/v1/event-subscriptions: webhooks for change events, registered and unregistered by the systems that
receive them (role `system` with the scope `events:subscribe`), and what their deliveries did.

Thin: parse, authorize, call `pml.events.service`, render. Deliveries are POSTed by `pml relay`, signed with
`X-PML-Signature: sha256=<hex HMAC-SHA256 of the body>` using the secret returned at registration.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.authz import Permission, authorize
from api.deps import CurrentPrincipal, DatabaseDep, SettingsDep, checked_patient_id
from pml.events.repository import DeliveryRepository, SubscriptionRepository
from pml.events.schemas import (
    Delivery,
    DeliveryPage,
    DeliveryStatus,
    NewSubscription,
    Subscription,
    SubscriptionCreated,
    SubscriptionList,
)
from pml.events.service import SubscriptionService, WebhookPolicy
from pml.settings import Environment, Settings

router = APIRouter(prefix="/event-subscriptions", tags=["change events"])


def _service(session: AsyncSession, settings: Settings) -> SubscriptionService:
    policy = WebhookPolicy(
        allowed_hosts=settings.events_webhook_allowed_hosts,
        production=settings.environment is Environment.PRODUCTION,
    )
    return SubscriptionService(SubscriptionRepository(session), DeliveryRepository(session), policy)


@router.post("", status_code=201, response_model=SubscriptionCreated)
async def register_subscription(
    new: NewSubscription, request: Request, response: Response, principal: CurrentPrincipal,
    database: DatabaseDep, settings: SettingsDep,
) -> SubscriptionCreated:  # fmt: skip
    """Register a webhook. The answer carries the signing secret, this once only."""
    authorize(principal, Permission.SUBSCRIBE_EVENTS)
    patients = [checked_patient_id(p, settings) for p in new.patient_ids] if new.patient_ids else None
    async with database.write_transaction() as session:
        created = await _service(session, settings).register(principal.actor, new, patients)
    response.headers["Location"] = f"{request.url.path}/{created.id}"
    return created


@router.get("", response_model=SubscriptionList)
async def list_subscriptions(
    principal: CurrentPrincipal, database: DatabaseDep, settings: SettingsDep
) -> SubscriptionList:
    """Your subscriptions, active and unregistered."""
    authorize(principal, Permission.SUBSCRIBE_EVENTS)
    async with database.read_transaction() as session:
        return SubscriptionList(subscriptions=await _service(session, settings).of_owner(principal.actor))


@router.get("/{subscription_id}", response_model=Subscription)
async def read_subscription(
    subscription_id: uuid.UUID, principal: CurrentPrincipal, database: DatabaseDep, settings: SettingsDep
) -> Subscription:
    authorize(principal, Permission.SUBSCRIBE_EVENTS)
    async with database.read_transaction() as session:
        return await _service(session, settings).owned(principal.actor, subscription_id)


@router.delete("/{subscription_id}", status_code=204)
async def unregister_subscription(
    subscription_id: uuid.UUID, principal: CurrentPrincipal, database: DatabaseDep, settings: SettingsDep
) -> Response:
    """Unregister: nothing more is delivered, pending deliveries are cancelled."""
    authorize(principal, Permission.SUBSCRIBE_EVENTS)
    async with database.write_transaction() as session:
        await _service(session, settings).unregister(principal.actor, subscription_id)
    return Response(status_code=204)


@router.get("/{subscription_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    subscription_id: uuid.UUID, principal: CurrentPrincipal, database: DatabaseDep, settings: SettingsDep,
    status: Annotated[DeliveryStatus | None, Query(description="e.g. dead: the dead letters")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryPage:  # fmt: skip
    """Deliveries of a subscription, newest first; `status=dead` lists the dead letters."""
    authorize(principal, Permission.SUBSCRIBE_EVENTS)
    async with database.read_transaction() as session:
        found = await _service(session, settings).deliveries(principal.actor, subscription_id, status, limit)
    return DeliveryPage(deliveries=found)


@router.post("/{subscription_id}/deliveries/{delivery_id}/retry", response_model=Delivery)
async def retry_delivery(
    subscription_id: uuid.UUID, delivery_id: uuid.UUID, principal: CurrentPrincipal, database: DatabaseDep,
    settings: SettingsDep,
) -> Delivery:  # fmt: skip
    """Put a dead-lettered delivery back in the queue (after fixing the receiver)."""
    authorize(principal, Permission.SUBSCRIBE_EVENTS)
    async with database.write_transaction() as session:
        return await _service(session, settings).retry_dead(principal.actor, subscription_id, delivery_id)
