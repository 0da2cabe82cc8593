"""Group commit for the audit log: every access is recorded before its response leaves, without one database
transaction per request. Records that arrive while a batch is being written wait for the next batch, so under
load one commit carries many records and at low load a record waits for exactly one insert."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from pml.audit.repository import AuditBatch, append_batch, driver_connection
from pml.audit.schemas import AuditEvent
from pml.db.engine import Database
from pml.metrics import AUDIT_BATCH


class AuditWriter:
    def __init__(self, database: Database, *, max_batch: int = 500) -> None:
        self._database = database
        self._max_batch = max_batch
        self._pending: list[tuple[AuditEvent, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._pooled: PoolProxiedConnection | None = None

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
        records = AuditBatch([event for event, _ in batch])
        try:
            await self._append(records)
        except Exception as error:  # noqa: BLE001 - every waiting request learns its record was not written
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        AUDIT_BATCH.observe(len(batch))
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    async def _append(self, records: AuditBatch) -> None:
        """One statement on the log connection: atomic, one round trip, no wait for a disk flush. The price,
        written down in docs/DECISIONS.md: a PostgreSQL crash can lose the last fraction of a second of audit
        records (never list changes: they commit synchronously and name their actor).

        The writer keeps one connection of the log pool for itself (a checkout per batch costs more than the
        insert) and does not ping it before use; a connection found dead is dropped and the batch sent once
        more on a new one (the same ids: recorded once)."""
        for attempt in (1, 2):
            connection = await self._connection()
            try:
                await append_batch(connection, records)
                return
            except psycopg.OperationalError:
                await self._drop_connection()
                if attempt == 2:
                    raise

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._pooled is None:
            self._pooled = await self._database.log_pool_connection()
        driver = driver_connection(self._pooled)
        if not driver.autocommit:  # every batch must commit by itself
            await driver.set_autocommit(True)
        return driver

    async def _drop_connection(self) -> None:
        pooled, self._pooled = self._pooled, None
        if pooled is not None:
            await greenlet_spawn(pooled.invalidate)

    async def close(self) -> None:
        """Give the connection back to the pool (at shutdown, after the last batch)."""
        pooled, self._pooled = self._pooled, None
        if pooled is not None:
            await greenlet_spawn(pooled.close)
