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
import logging
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pml.db.engine import Database
from pml.events.failures import Backoff, log_failure, sleep_until_stopped
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
        backoff = Backoff(self._poll)
        while not stop.is_set():
            try:
                await self._term(stop)
                backoff.succeeded()
                wait = self._poll
            except Exception as error:  # noqa: BLE001 - log, wait, and try again with a fresh connection
                log_failure(log, "outbox publisher failed", error)
                wait = backoff.failed()
            await sleep_until_stopped(stop, wait)

    async def _term(self, stop: asyncio.Event) -> None:
        """One try at leading, on a connection of its own. A leader's connection is closed afterwards, never
        returned to the pool: the lock belongs to that database session, and a pooled session still holding
        it would keep every publisher, this one included, from leading again."""
        async with self._database.write_engine.connect() as connection:
            leading = False
            try:
                leading = await self._lead(connection)
                if leading:
                    await self._publish_while_leading(connection, stop)
            finally:
                if leading:
                    await connection.invalidate()

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
                await sleep_until_stopped(stop, self._poll)

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
