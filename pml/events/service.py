"""Registering and unregistering webhook subscriptions, and what their deliveries did.

A subscription belongs to the client that registered it (the token's subject): only it sees, changes or
removes it. Its secret is made by PML, shown once at registration and never again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pml.events.errors import DeliveryNotFound, SubscriptionNotFound
from pml.events.repository import DeliveryRepository, SubscriptionRepository
from pml.events.schemas import (
    Delivery,
    DeliveryStatus,
    NewSubscription,
    Subscription,
    SubscriptionCreated,
)
from pml.events.signing import new_secret
from pml.events.urls import check_webhook_url
from pml.medication_list.schemas import Actor


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    allowed_hosts: list[str]
    production: bool


class SubscriptionService:
    def __init__(
        self, subscriptions: SubscriptionRepository, deliveries: DeliveryRepository, policy: WebhookPolicy
    ) -> None:
        self._subscriptions = subscriptions
        self._deliveries = deliveries
        self._policy = policy

    async def register(
        self, owner: Actor, new: NewSubscription, patient_ids: list[str] | None
    ) -> SubscriptionCreated:
        url = check_webhook_url(
            new.url, allowed_hosts=self._policy.allowed_hosts, production=self._policy.production
        )
        secret = new_secret()
        subscription = await self._subscriptions.add(
            owner_subject=owner.subject,
            owner_organisation=owner.organisation,
            url=url,
            secret=secret,
            description=new.description,
            patient_ids=patient_ids,
        )
        return SubscriptionCreated(**subscription.model_dump(), secret=secret)

    async def of_owner(self, owner: Actor) -> list[Subscription]:
        return await self._subscriptions.of_owner(owner.subject)

    async def owned(self, owner: Actor, subscription_id: uuid.UUID) -> Subscription:
        stored = await self._subscriptions.get(subscription_id)
        if stored is None or stored.owner_subject != owner.subject:
            raise SubscriptionNotFound(f"you have no subscription {subscription_id}")
        return stored.subscription

    async def unregister(self, owner: Actor, subscription_id: uuid.UUID) -> None:
        """Stop delivering to it: pending deliveries are cancelled; what was delivered stays on record."""
        subscription = await self.owned(owner, subscription_id)
        if subscription.active:
            await self._subscriptions.deactivate(subscription_id)
            await self._deliveries.cancel_pending(subscription_id)

    async def deliveries(
        self, owner: Actor, subscription_id: uuid.UUID, status: DeliveryStatus | None, limit: int
    ) -> list[Delivery]:
        await self.owned(owner, subscription_id)
        return await self._deliveries.of_subscription(subscription_id, status, limit)

    async def retry_dead(self, owner: Actor, subscription_id: uuid.UUID, delivery_id: uuid.UUID) -> Delivery:
        subscription = await self.owned(owner, subscription_id)
        if not subscription.active:
            raise SubscriptionNotFound(f"subscription {subscription_id} is unregistered")
        requeued = await self._deliveries.requeue_dead(subscription_id, delivery_id)
        if requeued is None:
            raise DeliveryNotFound(
                f"subscription {subscription_id} has no dead-lettered delivery {delivery_id}"
            )
        return requeued
