"""Redis Streams → webhook deliveries, as a consumer group (`pml-webhooks`).

Each event read becomes one pending delivery per subscription that wants it, committed before the entry is
acknowledged (XACK): a relay that dies in between reads the entry again (its own pending entries first, after
a restart; another relay's, once idle for a while, through XAUTOCLAIM), and the delivery's key (patient,
subscription, version) makes the second enqueue a no-op. Order does not matter here: the sender delivers each
patient's events to a subscriber in version order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

from redis.asyncio import Redis

from pml.db.engine import Database
from pml.events.failures import Backoff, log_failure, sleep_until_stopped
from pml.events.repository import DeliveryRepository, SubscriptionRepository
from pml.events.streams import WEBHOOK_GROUP, ensure_group, event_from_fields, stream_keys

log = logging.getLogger(__name__)

# Entries another consumer has held this long are taken over (that consumer is presumed dead).
CLAIM_IDLE_MS = 60_000
CLAIM_EVERY_SECONDS = 30.0


class StreamFanout:
    def __init__(
        self,
        database: Database,
        redis: Redis,
        *,
        shards: int,
        consumer: str,
        batch_size: int,
        poll_seconds: float,
    ) -> None:
        self._database = database
        self._redis = redis
        self._keys = stream_keys(shards)
        self._consumer = consumer
        self._batch_size = batch_size
        self._poll = poll_seconds
        self._last_claim = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff(self._poll)
        while not stop.is_set():
            try:
                for key in self._keys:
                    await ensure_group(self._redis, key, WEBHOOK_GROUP)
                await self._drain_own_pending()
                while not stop.is_set():
                    await self._claim_abandoned()
                    await self._read_new()
                    backoff.succeeded()
            except Exception as error:  # noqa: BLE001 - log, back off and start over; the relay must not die
                log_failure(log, "webhook fan-out failed", error)
                await sleep_until_stopped(stop, backoff.failed())

    async def _drain_own_pending(self) -> None:
        """Entries this consumer read but never acknowledged (it was killed): handle them before new ones."""
        while entries := await self._read({key: "0" for key in self._keys}, block=None):
            if not any(batch for _key, batch in entries):
                return
            await self._handle(entries)

    async def _read_new(self) -> None:
        entries = await self._read({key: ">" for key in self._keys}, block=int(self._poll * 1000))
        if entries:
            await self._handle(entries)

    async def _read(self, streams: dict[str, str], block: int | None) -> list[Any]:
        """XREADGROUP over every shard; the connection speaks RESP2, so the answer is a list of
        [stream, entries] pairs."""
        result = await self._redis.xreadgroup(
            WEBHOOK_GROUP, self._consumer, cast(dict[Any, Any], streams), count=self._batch_size, block=block
        )
        return cast(list[Any], result) if result else []

    async def _claim_abandoned(self) -> None:
        if time.monotonic() - self._last_claim < CLAIM_EVERY_SECONDS:
            return
        self._last_claim = time.monotonic()
        for key in self._keys:
            claimed = await self._redis.xautoclaim(
                key, WEBHOOK_GROUP, self._consumer, min_idle_time=CLAIM_IDLE_MS, count=self._batch_size
            )
            if claimed and claimed[1]:
                await self._handle([(key, claimed[1])])

    async def _handle(self, entries: list[Any]) -> None:
        """Enqueue deliveries for every entry, commit, then acknowledge them."""
        async with self._database.write_transaction() as session:
            wanted = await SubscriptionRepository(session).active()
            deliveries = DeliveryRepository(session)
            for _key, batch in entries:
                for _stream_id, fields in batch:
                    if not fields:  # trimmed away (MAXLEN) while pending: nothing left to deliver
                        continue
                    event = event_from_fields(fields)
                    await deliveries.enqueue(event, [s.id for s in wanted if s.wants(event)])
        for key, batch in entries:
            if batch:
                await self._redis.xack(key, WEBHOOK_GROUP, *[stream_id for stream_id, _fields in batch])
