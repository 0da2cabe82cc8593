"""The audit log's connections commit asynchronously unless the operator asks for synchronous commits, and
list writes keep synchronous commits whatever the audit setting."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.util import greenlet_spawn

from pml.audit.repository import driver_connection
from pml.db.engine import Database
from pml.settings import Settings


async def _synchronous_commit(database_url: str, *, audit_synchronous: bool) -> tuple[str, str]:
    settings = Settings(database_url=database_url, audit_synchronous_commit=audit_synchronous)
    database = Database.from_settings(settings, database_url)
    try:
        pooled = await database.log_pool_connection()  # the connection the audit writer keeps
        try:
            cursor = await driver_connection(pooled).execute("SHOW synchronous_commit")
            log = (await cursor.fetchone() or ("",))[0]
        finally:
            await greenlet_spawn(pooled.close)
        async with database.write_transaction() as session:
            write = (await session.execute(text("SHOW synchronous_commit"))).scalar_one()
    finally:
        await database.dispose()
    return str(log), str(write)


@pytest.mark.parametrize(("audit_synchronous", "expected_log"), [(False, "off"), (True, "on")])
def test_audit_commits_follow_the_setting_and_list_writes_stay_synchronous(
    database_url: str, audit_synchronous: bool, expected_log: str
) -> None:
    log, write = asyncio.run(_synchronous_commit(database_url, audit_synchronous=audit_synchronous))
    assert log == expected_log
    assert write == "on"
