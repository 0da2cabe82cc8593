"""The relay process (`pml relay`): the outbox publisher, the webhook fan-out and the webhook sender, side by
side in one event loop until SIGTERM or SIGINT.

Any number of relays may run: one publishes at a time (the others wait for its lock), all of them fan out (a
consumer group shares the entries) and send (deliveries are leased). Killed at any moment, a relay loses
nothing: unpublished rows stay in the outbox, unacknowledged entries stay pending in the group, and leased
deliveries are tried again when the lease ends.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

from redis.asyncio import Redis

from pml.db.engine import Database
from pml.events.fanout import StreamFanout
from pml.events.publisher import OutboxPublisher
from pml.events.streams import StreamPublisher
from pml.events.webhooks import WebhookSender, WebhookSettings
from pml.settings import Environment, Settings

log = logging.getLogger(__name__)


class RelayNotConfigured(RuntimeError):
    """The relay cannot run with these settings (it needs Redis)."""


@dataclass(frozen=True, slots=True)
class RelayOptions:
    consumer: str
    poll_seconds: float = 0.2
    webhooks: bool = True


def webhook_settings(settings: Settings) -> WebhookSettings:
    return WebhookSettings(
        max_attempts=settings.events_webhook_max_attempts,
        backoff_seconds=settings.events_webhook_backoff_seconds,
        allowed_hosts=settings.events_webhook_allowed_hosts,
        production=settings.environment is Environment.PRODUCTION,
    )


async def run_relay(settings: Settings, database_url: str, options: RelayOptions) -> None:
    if settings.redis_url is None:
        raise RelayNotConfigured("the relay publishes to Redis Streams: set PML_REDIS_URL")
    database = Database.from_settings(settings, database_url)
    redis = Redis.from_url(settings.redis_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    batch, shards = settings.events_relay_batch_size, settings.events_stream_shards
    tasks = [
        OutboxPublisher(
            database, StreamPublisher(redis, shards), batch_size=batch, poll_seconds=options.poll_seconds
        ).run(stop)
    ]
    if options.webhooks:
        tasks.append(
            StreamFanout(
                database,
                redis,
                shards=shards,
                consumer=options.consumer,
                batch_size=batch,
                poll_seconds=options.poll_seconds,
            ).run(stop)
        )
        tasks.append(
            WebhookSender(
                database, webhook_settings(settings), batch_size=batch, poll_seconds=options.poll_seconds
            ).run(stop)
        )
    log.info("relay %s running (%d stream shards)", options.consumer, shards)
    try:
        await asyncio.gather(*tasks)
    finally:
        await redis.aclose()
        await database.dispose()
