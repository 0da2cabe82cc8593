"""Engines and session factories, created once per process in the app's lifespan.

Writes and reads have their own session factories so a read replica can be added without touching services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from pml.db.urls import sqlalchemy_url
from pml.settings import Settings

AfterCommitSubscriber = Callable[[object], Awaitable[None]]
_EVENTS = "pml.after_commit_events"


def publish_after_commit(session: AsyncSession, event: object) -> None:
    """Queue `event` for the database's subscribers, delivered only if this transaction commits."""
    session.info.setdefault(_EVENTS, []).append(event)


def create_engine_from_settings(settings: Settings, url: str) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
        connect_args={
            "options": f"-c statement_timeout={settings.database_statement_timeout_ms}",
            "application_name": "pml",
        },
    )


@dataclass
class Database:
    write_engine: AsyncEngine
    read_engine: AsyncEngine
    subscribers: list[AfterCommitSubscriber] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.read_engine)

    @classmethod
    def from_settings(cls, settings: Settings, url: str) -> Database:
        write_engine = create_engine_from_settings(settings, url)
        read_url = settings.database_read_url
        read_engine = create_engine_from_settings(settings, read_url) if read_url else write_engine
        return cls(write_engine=write_engine, read_engine=read_engine)

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
