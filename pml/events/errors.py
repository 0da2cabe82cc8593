"""Errors of webhook subscriptions."""

from __future__ import annotations

from pml.errors import InvalidInput, NotFound


class SubscriptionNotFound(NotFound):
    problem_type = "subscription-not-found"
    title = "No such subscription"


class DeliveryNotFound(NotFound):
    problem_type = "delivery-not-found"
    title = "No such delivery"


class WebhookUrlRefused(InvalidInput):
    problem_type = "webhook-url-refused"
    title = "That webhook URL is not allowed"
