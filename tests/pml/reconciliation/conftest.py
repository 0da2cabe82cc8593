"""Fixtures for reconciliation tests: the synthetic catalogue's resolver, and a database for service tests.

Service tests run in-process against the session's migrated PostgreSQL; every test uses its own patient, so
tests never see each other's rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pml.db.engine import Database
from pml.reconciliation.interpretation.resolver import Resolver
from pml.settings import Settings
from tests.pml.reconciliation.corpus import corpus_resolver


@pytest.fixture(scope="session")
def resolver() -> Resolver:
    return corpus_resolver()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def database(server_settings: Settings, database_url: str) -> AsyncIterator[Database]:
    database = Database.from_settings(server_settings, database_url)
    yield database
    await database.dispose()
