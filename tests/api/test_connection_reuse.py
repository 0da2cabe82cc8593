"""A worker under steady concurrent writes reuses its PostgreSQL connections instead of opening new ones.

Opening a connection forks a PostgreSQL backend and authenticates: several milliseconds of database CPU. With
a pool smaller than the requests in flight, SQLAlchemy closes the overflow connections whenever they come back
to a full pool and opens them again on the next burst; measured before the pool was resized, one write in ten
paid for a new backend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from pml.db.urls import libpq_url
from pml.settings import Settings
from tests.conftest import server_env
from tests.support.client import make_token
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess

IN_FLIGHT = 16  # writes in flight at once, all the time, on one worker (the throughput benchmark's load)
WRITES_EACH = 40


@pytest.fixture
def one_worker(
    server_settings: Settings, work_dir: Path, catalogue_release_id: str
) -> Iterator[ServerProcess]:
    env = server_env(server_settings, PML_RATE_LIMIT_PER_SECOND="100000")
    server = ServerProcess(env=env, log_path=work_dir / "connection-reuse-server.log").start(workers=1)
    yield server
    server.stop()


def _sessions(database_url: str) -> int:
    """Connections ever opened to the test database (PostgreSQL counts them per database)."""
    with psycopg.connect(libpq_url(database_url)) as connection:
        row = connection.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def _write_repeatedly(client: httpx.AsyncClient, patient_id: str) -> None:
    path = f"/v1/patients/{patient_id}/medication-list/entries"
    version = 0
    for _ in range(WRITES_EACH):
        response = await client.post(
            path, json=entry_body(), headers={"If-Match": f'"{version}"', "Idempotency-Key": uuid.uuid4().hex}
        )
        assert response.status_code == 201, response.text
        version = response.json()["medication_list"]["version"]


async def _load(base_url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-PML-Purpose": "TREAT"}
    limits = httpx.Limits(max_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:
        await asyncio.gather(*(_write_repeatedly(client, new_patient_id()) for _ in range(IN_FLIGHT)))


def test_steady_concurrent_writes_open_no_connection_per_request(
    one_worker: ServerProcess, server_settings: Settings, database_url: str
) -> None:
    token = make_token(server_settings)
    asyncio.run(_load(one_worker.base_url, token))  # the pools fill up to what this load needs
    before = _sessions(database_url)
    asyncio.run(_load(one_worker.base_url, token))
    opened = _sessions(database_url) - before - 1  # the count's own connection
    # The second round needs no connection the first did not already open; a few to spare for timing.
    assert opened <= 4, f"{opened} connections opened for {IN_FLIGHT * WRITES_EACH} writes"
