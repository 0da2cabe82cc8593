"""Per-client rate limits, shared through Redis across worker processes, and still enforced without it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from api.ratelimit import RateLimited, RateLimiter
from pml.cache.round_trip import RoundTrips
from pml.settings import Settings
from tests.conftest import server_env
from tests.support.client import ListClient
from tests.support.factories import new_patient_id
from tests.support.servers import RedisProcess, ServerProcess

LIMIT = 5


def _burst(client: ListClient, patient_id: str, count: int) -> list[httpx.Response]:
    return [client.read(patient_id) for _ in range(count)]


@pytest.fixture
def limited_server(server_settings: Settings, work_dir: Path) -> Iterator[tuple[ServerProcess, RedisProcess]]:
    redis = RedisProcess(work_dir / "redis-limits").start()
    env = server_env(server_settings, PML_REDIS_URL=redis.url, PML_RATE_LIMIT_PER_SECOND=str(LIMIT))
    server = ServerProcess(env=env, log_path=work_dir / "limited-server.log").start(workers=2)
    yield server, redis
    server.stop()
    redis.stop()


@pytest.mark.slow
def test_a_client_over_its_limit_gets_429_with_retry_after_even_across_workers(
    limited_server: tuple[ServerProcess, RedisProcess], prescriber_token: str
) -> None:
    server, _ = limited_server
    client = ListClient(server.base_url, prescriber_token)
    responses = _burst(client, new_patient_id(), 4 * LIMIT)
    statuses = [r.status_code for r in responses]
    # Two worker processes: counted per process, more than LIMIT could pass; shared in Redis, they cannot.
    assert statuses.count(200) <= 2 * LIMIT
    assert 429 in statuses
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["type"].endswith("/rate-limited")
    client.close()


@pytest.mark.slow
def test_with_redis_stopped_the_limit_still_holds_and_reads_still_work(
    limited_server: tuple[ServerProcess, RedisProcess], prescriber_token: str
) -> None:
    server, redis = limited_server
    redis.stop()
    client = ListClient(server.base_url, prescriber_token)
    statuses = [r.status_code for r in _burst(client, new_patient_id(), 4 * LIMIT)]
    assert 200 in statuses
    assert 429 in statuses
    assert set(statuses) <= {200, 429}
    client.close()


async def _checks_against(redis_url: str, count: int) -> tuple[list[str], float]:
    client = Redis.from_url(redis_url, socket_timeout=None, socket_connect_timeout=0.2)  # as api.app makes it
    limiter = RateLimiter(3, RoundTrips(client, timeout_seconds=0.2))
    await asyncio.sleep(1.05 - time.time() % 1)  # start early in a second: all checks fall in one window
    started, outcomes = time.monotonic(), []
    for _ in range(count):
        try:
            await limiter.check("a-client")
            outcomes.append("allowed")
        except RateLimited:
            outcomes.append("429")
    elapsed = time.monotonic() - started
    await client.aclose()
    return outcomes, elapsed


def test_a_hung_redis_costs_one_timeout_then_the_limit_is_counted_in_the_process(work_dir: Path) -> None:
    redis = RedisProcess(work_dir / "redis-hung").start()
    assert redis.process is not None
    os.kill(redis.process.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        outcomes, elapsed = asyncio.run(_checks_against(redis.url, 6))
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)
        redis.stop()
    assert outcomes == ["allowed"] * 3 + ["429"] * 3
    assert elapsed < 0.6  # one 0.2 s timeout, not six
