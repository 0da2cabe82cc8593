"""The audit log's connections commit asynchronously unless the operator asks for synchronous commits, and
list writes keep synchronous commits whatever the audit setting."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from pml.db.engine import Database
from pml.settings import Settings


async def _synchronous_commit(database_url: str, *, audit_synchronous: bool) -> tuple[str, str]:
    settings = Settings(database_url=database_url, audit_synchronous_commit=audit_synchronous)
    database = Database.from_settings(settings, database_url)
    try:
        async with database.log_connection() as connection:
            log = (await connection.execute(text("SHOW synchronous_commit"))).scalar_one()
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
