"""Sending webhook deliveries: signed, retried with exponential backoff, dead-lettered after the last try.

Each POST carries the event as JSON, `X-PML-Signature: sha256=<HMAC-SHA256 of the body>` with the
subscription's secret, and the event and delivery ids. Any 2xx is delivered; anything else (another status, a
timeout, a refused connection, a redirect — never followed) is a failed attempt, retried after
base × 2^(attempt − 1) seconds (±20 % jitter, at most an hour) until the last attempt, then dead-lettered,
where the subscriber sees it through the API and can ask for it again. Each successful delivery is written to
the audit log: it tells a system that a patient's list changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from dataclasses import dataclass

import httpx
import orjson

from pml.audit.repository import AuditRepository
from pml.audit.schemas import AuditEvent, Outcome
from pml.db.engine import Database
from pml.events.errors import WebhookUrlRefused
from pml.events.failures import Backoff, log_failure, sleep_until_stopped
from pml.events.repository import DeliveryRepository, DueDelivery
from pml.events.signing import SIGNATURE_HEADER, signature
from pml.events.urls import check_webhook_url

log = logging.getLogger(__name__)

MAX_BACKOFF = dt.timedelta(hours=1)
TIMEOUT_SECONDS = 10.0
AUDIT_ACTION = "event_webhook_delivered"


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    max_attempts: int
    backoff_seconds: float
    allowed_hosts: list[str]
    production: bool


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery: DueDelivery
    status_code: int | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None


def backoff(attempt: int, base_seconds: float) -> dt.timedelta:
    """The wait after the `attempt`-th failure: exponential, with jitter so retries do not arrive in step."""
    delay = base_seconds * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security
    return min(dt.timedelta(seconds=delay), MAX_BACKOFF)


def body_bytes(delivery: DueDelivery) -> bytes:
    return orjson.dumps(delivery.body, option=orjson.OPT_SORT_KEYS)


class WebhookSender:
    def __init__(
        self,
        database: Database,
        settings: WebhookSettings,
        *,
        batch_size: int,
        poll_seconds: float,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._database = database
        self._settings = settings
        self._batch_size = batch_size
        self._poll = poll_seconds
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff(self._poll)
        try:
            while not stop.is_set():
                try:
                    sent = await self.send_due()
                    backoff.succeeded()
                    wait = self._poll if sent == 0 else 0.0
                except Exception as error:  # noqa: BLE001 - log, back off and try again; the sender must not die
                    log_failure(log, "webhook sending failed", error)
                    wait = backoff.failed()
                if wait:
                    await sleep_until_stopped(stop, wait)
        finally:
            await self._client.aclose()

    async def send_due(self) -> int:
        lease = dt.timedelta(seconds=TIMEOUT_SECONDS * 3)
        async with self._database.write_transaction() as session:
            due = await DeliveryRepository(session).claim_due(self._batch_size, lease)
        if not due:
            return 0
        attempts = await asyncio.gather(*(self._attempt(delivery) for delivery in due))
        async with self._database.write_transaction() as session:
            for attempt in attempts:
                await self._record(DeliveryRepository(session), attempt)
            delivered = [_audit_event(a.delivery, a.status_code or 0) for a in attempts if a.succeeded]
            if delivered:
                await AuditRepository(session).append_many(delivered)
        return len(due)

    async def _attempt(self, delivery: DueDelivery) -> Attempt:
        try:
            check_webhook_url(
                delivery.url, allowed_hosts=self._settings.allowed_hosts, production=self._settings.production
            )
        except WebhookUrlRefused as refused:
            return Attempt(delivery, None, f"not sent: {refused.detail}")
        body = body_bytes(delivery)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(delivery.secret, body),
            "X-PML-Event-Id": str(delivery.event_id),
            "X-PML-Delivery-Id": str(delivery.delivery_id),
            "X-PML-Delivery-Attempt": str(delivery.attempts + 1),
            "User-Agent": "PML-Webhooks/1",
        }
        try:
            response = await self._client.post(delivery.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return Attempt(delivery, None, f"{type(error).__name__}: {error}"[:500])
        if response.is_success:
            return Attempt(delivery, response.status_code, None)
        return Attempt(delivery, response.status_code, f"HTTP {response.status_code}")

    async def _record(self, deliveries: DeliveryRepository, attempt: Attempt) -> None:
        delivery = attempt.delivery
        if attempt.succeeded:
            await deliveries.delivered(delivery.key, attempt.status_code or 0)
            return
        tried = delivery.attempts + 1
        last = tried >= self._settings.max_attempts or (attempt.error or "").startswith("not sent")
        retry_in = None if last else backoff(tried, self._settings.backoff_seconds)
        await deliveries.failed(delivery.key, attempt.status_code, attempt.error or "failed", retry_in)
        if last:
            log.warning(
                "webhook delivery %s dead-lettered after %d attempts: %s",
                delivery.delivery_id,
                tried,
                attempt.error,
            )


def _audit_event(delivery: DueDelivery, status_code: int) -> AuditEvent:
    return AuditEvent(
        patient_id=delivery.key[0],
        actor_subject=delivery.owner_subject,
        actor_name=None,
        actor_hpr=None,
        role="system",
        organisation=delivery.owner_organisation,
        action=AUDIT_ACTION,
        purpose=None,
        emergency=False,
        emergency_reason=None,
        outcome=Outcome.SUCCESS,
        status_code=status_code,
        request_id=str(delivery.delivery_id),
    )
