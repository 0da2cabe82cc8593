"""The Redis list cache under concurrent writers and readers in separate processes, across two server workers:
no reader ever sees a version older than one already acknowledged or already seen, and with Redis stopped
mid-run reads stay correct (from PostgreSQL) and /health/ready says the cache is degraded."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from pml.auth.tokens import DevelopmentClaims
from pml.settings import Settings
from tests.conftest import server_env
from tests.support.client import ListClient, make_token
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import RedisProcess, ServerProcess
from tests.support.workers import read_for_a_while, write_for_a_while

WRITERS = 3
READERS = 3


@pytest.fixture
def cached_server(server_settings: Settings, work_dir: Path) -> Iterator[tuple[ServerProcess, RedisProcess]]:
    redis_process = RedisProcess(work_dir / "redis-cache").start()
    env = server_env(
        server_settings, PML_REDIS_URL=redis_process.url, PML_RATE_LIMIT_PER_SECOND="100000",
        PML_MAX_LIST_ENTRIES="100000",
    )
    server = ServerProcess(env=env, log_path=work_dir / "cached-server.log").start(workers=2)
    yield server, redis_process
    server.stop()
    redis_process.stop()


def _drain(queue: Any) -> list[tuple[float, int]]:
    items = []
    while not queue.empty():
        items.append(queue.get())
    return items


def _run_load(
    server: ServerProcess, token: str, patient_id: str, seconds: float, midway: Any = None
) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
    context = multiprocessing.get_context("spawn")
    acknowledged, observed = context.Queue(), context.Queue()
    processes = [
        context.Process(
            target=write_for_a_while, args=(server.base_url, token, patient_id, seconds, acknowledged)
        )
        for _ in range(WRITERS)
    ] + [
        context.Process(target=read_for_a_while, args=(server.base_url, token, patient_id, seconds, observed))
        for _ in range(READERS)
    ]
    for process in processes:
        process.start()
    if midway is not None:
        time.sleep(seconds / 2)
        midway()
    acks, reads = [], []
    for process in processes:
        while process.is_alive():
            acks += _drain(acknowledged)
            reads += _drain(observed)
            process.join(0.1)
        assert process.exitcode == 0
    return acks + _drain(acknowledged), reads + _drain(observed)


def _assert_never_older_than_acknowledged(
    acks: list[tuple[float, int]], reads: list[tuple[float, int]]
) -> None:
    acks.sort()
    newest_before: list[tuple[float, int]] = []
    newest = 0
    for at, version in acks:
        newest = max(newest, version)
        newest_before.append((at, newest))
    stale = []
    for started, version in reads:
        acked = [v for at, v in newest_before if at < started]
        if acked and version < acked[-1]:
            stale.append((started, version, acked[-1]))
    assert not stale, f"{len(stale)} reads older than an acknowledged write, e.g. {stale[:3]}"


@pytest.mark.slow
def test_readers_never_see_a_version_older_than_an_acknowledged_write(
    cached_server: tuple[ServerProcess, RedisProcess], prescriber_token: str
) -> None:
    server, redis_process = cached_server
    patient_id = new_patient_id()
    acks, reads = _run_load(server, prescriber_token, patient_id, seconds=3)
    assert len(acks) >= 10
    assert len(reads) >= 50
    _assert_never_older_than_acknowledged(acks, reads)
    # The cache really served: the patient's entry holds the serialized list of the newest version.
    with redis.Redis.from_url(redis_process.url) as client:
        cached = client.hmget(f"pml:patient:{{{patient_id}}}", "v", "bv")
    reader = ListClient(server.base_url, prescriber_token)
    final = reader.version(patient_id)
    reader.close()
    assert int(cached[0]) == final == max(v for _, v in acks)


@pytest.mark.slow
def test_with_redis_stopped_mid_run_reads_stay_correct_and_ready_says_degraded(
    cached_server: tuple[ServerProcess, RedisProcess], prescriber_token: str
) -> None:
    server, redis_process = cached_server
    patient_id = new_patient_id()
    acks, reads = _run_load(server, prescriber_token, patient_id, seconds=3, midway=redis_process.stop)
    _assert_never_older_than_acknowledged(acks, reads)
    ready = httpx.get(f"{server.base_url}/health/ready").json()
    assert ready["status"] == "ready"
    assert ready["checks"]["cache"] == "degraded"
    client = ListClient(server.base_url, prescriber_token)
    version = client.version(patient_id)
    assert client.add(patient_id, entry_body(), version=version).status_code == 201
    assert client.version(patient_id) == version + 1
    client.close()


@pytest.mark.slow
def test_a_conditional_read_is_answered_from_the_cache(
    cached_server: tuple[ServerProcess, RedisProcess], prescriber_token: str
) -> None:
    server, redis_process = cached_server
    client = ListClient(server.base_url, prescriber_token)
    patient_id = new_patient_id()
    assert client.add(patient_id, entry_body(), version=0).status_code == 201
    assert client.read(patient_id).status_code == 200  # fills the cache
    # Break the database row's visibility to the cache path: a 304 must come without reading PostgreSQL,
    # so even a cache entry alone (we plant a higher version) decides it.
    with redis.Redis.from_url(redis_process.url) as planted:
        planted.hset(f"pml:patient:{{{patient_id}}}", "v", 99)
    assert client.read(patient_id, **{"If-None-Match": '"99"'}).status_code == 304
    client.close()


@pytest.mark.slow
def test_with_redis_hung_reads_answer_from_postgresql_within_the_deadline(
    cached_server: tuple[ServerProcess, RedisProcess], prescriber_token: str
) -> None:
    """A Redis that accepts connections and never answers (SIGSTOP) costs a request one deadline
    (PML_REDIS_TIMEOUT_SECONDS), not a hang: the client has no socket timeout, each operation has one."""
    server, redis_process = cached_server
    assert redis_process.process is not None
    client = ListClient(server.base_url, prescriber_token)
    patient_id = new_patient_id()
    assert client.add(patient_id, entry_body(), version=0).status_code == 201
    os.kill(redis_process.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        reads = [client.read(patient_id) for _ in range(6)]
        elapsed = time.monotonic() - started
    finally:
        os.kill(redis_process.process.pid, signal.SIGCONT)
        client.close()
    assert [r.status_code for r in reads] == [200] * 6
    assert {r.json()["version"] for r in reads} == {1}
    assert elapsed < 4  # a few 0.25 s deadlines across two workers, not a hang


def _client(server: ServerProcess, settings: Settings, role: str, **claims: str) -> ListClient:
    subject = f"{role}-{uuid.uuid4().hex[:8]}"
    token = make_token(settings, DevelopmentClaims(subject=subject, role=role, **claims))
    return ListClient(server.base_url, token, purpose="PATRQT" if role == "patient" else "TREAT")


@pytest.mark.slow
def test_blocks_read_with_the_list_on_a_cold_cache_refuse_and_are_then_cached(
    cached_server: tuple[ServerProcess, RedisProcess], server_settings: Settings, prescriber_token: str
) -> None:
    """A list read that has neither the blocks nor the list in Redis reads both in one statement: the block
    still refuses, and the allowed read caches the list and the blocks together."""
    server, redis_process = cached_server
    patient_id = new_patient_id()
    writer = ListClient(server.base_url, prescriber_token)
    assert writer.add(patient_id, entry_body(), version=0).status_code == 201
    patient = _client(server, server_settings, "patient", national_id=patient_id)
    blocked_hpr = "2345678"
    block = patient.http.post(
        f"/v1/patients/{patient_id}/blocks", json={"kind": "clinician", "value": blocked_hpr}
    )
    assert block.status_code == 201, block.text
    blocked = _client(server, server_settings, "prescriber", hpr_number=blocked_hpr, organisation="974703300")
    other = _client(server, server_settings, "prescriber", hpr_number="8765432", organisation="974703300")
    key = f"pml:patient:{{{patient_id}}}"
    with redis.Redis.from_url(redis_process.url) as inspect:
        inspect.delete(key)  # cold: neither list nor blocks cached
        assert blocked.read(patient_id).status_code == 403
        allowed = other.read(patient_id)
        assert allowed.status_code == 200
        assert allowed.json()["version"] == 1
        body, blocks = inspect.hmget(key, "b", "k")
        assert body is not None
        assert json.loads(body)["version"] == 1
        assert blocks is not None
        assert json.loads(blocks) == [f"clinician:{blocked_hpr}"]
        assert blocked.read(patient_id).status_code == 403  # now refused from the cached blocks
    for client in (writer, patient, blocked, other):
        client.close()
