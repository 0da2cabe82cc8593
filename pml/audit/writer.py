"""Group commit for the audit log: every access is recorded before its response leaves, without one database
transaction per request. Records that arrive while a batch is being written wait for the next batch, so under
load one commit carries many records and at low load a record waits for exactly one insert."""

from __future__ import annotations

import asyncio

from pml.audit.repository import AuditRepository
from pml.audit.schemas import AuditEvent
from pml.db.engine import Database
from pml.metrics import AUDIT_BATCH


class AuditWriter:
    def __init__(self, database: Database, *, max_batch: int = 500) -> None:
        self._database = database
        self._max_batch = max_batch
        self._pending: list[tuple[AuditEvent, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, event: AuditEvent) -> None:
        """Return once `event` is committed; raise if it could not be."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_until_empty())
        await future

    async def _flush_until_empty(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            await self._write(batch)

    async def _write(self, batch: list[tuple[AuditEvent, asyncio.Future[None]]]) -> None:
        try:
            # One statement on the log connection: atomic, one round trip, no wait for a disk flush. The
            # price, written down in docs/DECISIONS.md: a PostgreSQL crash can lose the last fraction of a
            # second of audit records (never list changes: they commit synchronously and name their actor).
            async with self._database.log_connection() as connection:
                await AuditRepository(connection).append_many([event for event, _ in batch])
        except Exception as error:  # noqa: BLE001 - every waiting request learns its record was not written
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        AUDIT_BATCH.observe(len(batch))
        for _, future in batch:
            if not future.done():
                future.set_result(None)
