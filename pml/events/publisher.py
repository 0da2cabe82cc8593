"""Outbox → Redis Streams, by one relay at a time.

Design: a single publisher holds a PostgreSQL advisory lock (session level, on its own connection) while it
works; other relay processes wait as standbys and take over when that connection ends (a crash, kill -9 or a
network cut). The leader reads the oldest unpublished rows in commit order, XADDs them, then marks them
published, batch by batch. One publisher means each patient's events reach the stream in version order with no
coordination beyond the lock; a batch of a few hundred rows per round trip is far above the rate lists change.

At least once: a publisher that dies after XADD and before marking its rows leaves them unpublished, and the
next leader would add them again. So a new leader first reads the newest stream entries and marks rows already
there as published without adding them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pml.db.engine import Database
from pml.events.repository import OutboxRepository
from pml.events.streams import StreamPublisher

log = logging.getLogger(__name__)

# pg advisory lock key: "pml_evnt" as a big-endian 64-bit integer (any constant no other lock uses).
LEADER_LOCK = int.from_bytes(b"pml_evnt", "big") - (1 << 63)


class OutboxPublisher:
    def __init__(
        self, database: Database, streams: StreamPublisher, *, batch_size: int, poll_seconds: float
    ) -> None:
        self._database = database
        self._streams = streams
        self._batch_size = batch_size
        self._poll = poll_seconds
        self.published = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Publish while leader; wait as a standby otherwise; start over after any failure."""
        while not stop.is_set():
            try:
                async with self._database.write_engine.connect() as connection:
                    if await self._lead(connection):
                        await self._publish_while_leading(connection, stop)
                        continue
            except Exception:  # database or Redis trouble: log, wait, and try again with a fresh connection
                log.exception("outbox publisher failed; retrying")
            await _sleep(stop, self._poll)

    async def _lead(self, connection: AsyncConnection) -> bool:
        leader = await connection.scalar(select(func.pg_try_advisory_lock(LEADER_LOCK)))
        await connection.commit()  # the lock is the session's; end the transaction that asked for it
        if leader:
            log.info("this relay now publishes the outbox")
        return bool(leader)

    async def _publish_while_leading(self, connection: AsyncConnection, stop: asyncio.Event) -> None:
        already_streamed = await self._streams.recent_event_ids(self._batch_size)
        while not stop.is_set():
            published = await self.publish_batch(connection, already_streamed)
            if published < self._batch_size:
                await _sleep(stop, self._poll)

    async def publish_batch(self, connection: AsyncConnection, already_streamed: set[uuid.UUID]) -> int:
        """One batch in one transaction: read, XADD, mark published. The number of rows handled."""
        async with AsyncSession(bind=connection) as session, session.begin():
            outbox = OutboxRepository(session)
            events = await outbox.pending(self._batch_size)
            fresh = [event for event in events if event.event_id not in already_streamed]
            stream_ids = await self._streams.publish(fresh)
            await outbox.mark_published(
                [(e.patient_id, e.version, stream_ids.get(e.event_id)) for e in events]
            )
        already_streamed.difference_update(e.event_id for e in events)
        self.published += len(fresh)
        return len(events)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
