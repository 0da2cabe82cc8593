"""Pooled connections are pinged before use only after sitting idle: one the database dropped meanwhile is
replaced before the request uses it, and connections in steady use send no ping at all."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import pml.db.engine
from pml.db.engine import Database
from pml.db.urls import libpq_url
from pml.settings import Settings


async def _backend_pid(database: Database) -> int:
    async with database.read_transaction() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


def _terminate(database_url: str, pid: int) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_an_idle_connection_the_database_dropped_is_replaced_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pml.db.engine, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout counts as idle

    async def scenario() -> None:
        database = Database.from_settings(Settings(database_url=database_url), database_url)
        try:
            dropped = await _backend_pid(database)
            _terminate(database_url, dropped)
            assert await _backend_pid(database) != dropped
        finally:
            await database.dispose()

    asyncio.run(scenario())


def test_a_connection_in_steady_use_is_not_pinged(database_url: str) -> None:
    async def scenario() -> int:
        database = Database.from_settings(Settings(database_url=database_url), database_url)
        dialect = database.read_engine.sync_engine.dialect
        pings = []
        ping = dialect.do_ping

        def counted(dbapi_connection: Any) -> bool:
            pings.append(dbapi_connection)
            return ping(dbapi_connection)

        dialect.do_ping = counted  # type: ignore[method-assign]
        try:
            for _ in range(3):
                await _backend_pid(database)
        finally:
            await database.dispose()
        return len(pings)

    assert asyncio.run(scenario()) == 0


def test_a_connection_dropped_while_recently_used_fails_one_request(database_url: str) -> None:
    """The price of not pinging every time, and why the first test's ping is what saves its request."""

    async def scenario() -> None:
        database = Database.from_settings(Settings(database_url=database_url), database_url)
        try:
            dropped = await _backend_pid(database)
            _terminate(database_url, dropped)
            with pytest.raises(DBAPIError):
                await _backend_pid(database)
            assert await _backend_pid(database) != dropped
        finally:
            await database.dispose()

    asyncio.run(scenario())
