"""Engines and session factories, created once per process in the app's lifespan.

Writes and reads have their own session factories so a read replica can be added without touching services.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Executable, Result
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from pml.db.urls import sqlalchemy_url
from pml.settings import Settings

AfterCommitSubscriber = Callable[[object], Awaitable[None]]
_EVENTS = "pml.after_commit_events"


def publish_after_commit(session: AsyncSession, event: object) -> None:
    """Queue `event` for the database's subscribers, delivered only if this transaction commits."""
    session.info.setdefault(_EVENTS, []).append(event)


async def execute_core(
    session: AsyncSession, statement: Executable, parameters: dict[str, Any]
) -> Result[Any]:
    """A Core statement on the session's connection: the same transaction, without the ORM's execution path
    (which a Core statement does not need)."""
    connection = await session.connection()
    return await connection.execute(statement, parameters)


# A pooled connection idle longer than this is pinged before use (see `_ping_when_idle`).
PING_AFTER_IDLE_SECONDS = 5.0
_IDLE_SINCE = "pml.idle_since"


def create_engine_from_settings(settings: Settings, url: str) -> AsyncEngine:
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        connect_args={
            "options": f"-c statement_timeout={settings.database_statement_timeout_ms}",
            "application_name": "pml",
        },
    )
    _ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def _json_dumps(value: object) -> bytes:
    """orjson for JSON and JSONB parameters (change images, stored responses): several times cheaper than
    json.dumps; PostgreSQL stores the same value either way."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it has been idle a while (a database restart or a
    firewall may have dropped it meanwhile), not before every transaction as `pool_pre_ping` does: under
    load that ping is one more round trip per request for connections used milliseconds ago. A dead one is
    replaced before the request uses it; one that died while in use fails its request, and SQLAlchemy then
    recycles the rest of the pool."""
    sync_engine = engine.sync_engine

    @sqlalchemy_event.listens_for(sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @sqlalchemy_event.listens_for(sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure of a ping means: not this connection
            raise DisconnectionError(f"an idle pooled connection failed its ping: {error}") from error


def create_log_engine(settings: Settings, url: str) -> AsyncEngine:
    """A small pool for append-only logs (the audit log): each statement is its own transaction and commits
    without waiting for the WAL flush, so logging an access costs one round trip, not a disk flush. Its own
    pool, because `synchronous_commit` is a connection setting and list writes must keep it on. No ping
    before each use: the audit writer replaces a connection it finds dead and sends its batch again."""
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=2,
        max_overflow=2,
        isolation_level="AUTOCOMMIT",
        connect_args={
            "options": (
                f"-c statement_timeout={settings.database_statement_timeout_ms}"
                f" -c synchronous_commit={'on' if settings.audit_synchronous_commit else 'off'}"
            ),
            "application_name": "pml-log",
        },
    )


@dataclass
class Database:
    write_engine: AsyncEngine
    read_engine: AsyncEngine
    log_engine: AsyncEngine | None = None
    subscribers: list[AfterCommitSubscriber] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.read_engine)

    @classmethod
    def from_settings(cls, settings: Settings, url: str) -> Database:
        write_engine = create_engine_from_settings(settings, url)
        read_url = settings.database_read_url
        read_engine = create_engine_from_settings(settings, read_url) if read_url else write_engine
        log_engine = create_log_engine(settings, url)
        return cls(write_engine=write_engine, read_engine=read_engine, log_engine=log_engine)

    @asynccontextmanager
    async def write_transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction, committed when the block ends without error and rolled back otherwise."""
        async with self._write_sessions() as session:
            async with session.begin():
                yield session
            await self._deliver(session.info.pop(_EVENTS, []))

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[AsyncSession]:
        async with self._read_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read_statement(self) -> AsyncIterator[AsyncConnection]:
        """A read connection without a transaction around it (autocommit) and without an ORM session: for
        a read that is one Core statement, which PostgreSQL answers from one snapshot anyway, so BEGIN and
        COMMIT would be two round trips for nothing. Never for reads that must agree with each other."""
        async with self.read_engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def log_pool_connection(self) -> PoolProxiedConnection:
        """A psycopg connection of the log pool, held until closed (for a writer that keeps one)."""
        if self.log_engine is None:
            raise RuntimeError("this database has no log pool (build it with Database.from_settings)")
        return await self.log_engine.raw_connection()

    def subscribe(self, subscriber: AfterCommitSubscriber) -> None:
        self.subscribers.append(subscriber)

    async def _deliver(self, events: list[object]) -> None:
        for event in events:
            for subscriber in self.subscribers:
                await subscriber(event)

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
        if self.log_engine is not None:
            await self.log_engine.dispose()
