"""The relay against a real PostgreSQL and a real Redis, as a real process: outbox rows reach the streams in
order per patient, a relay killed with SIGKILL mid-stream and restarted loses and reorders nothing, a batch
that reached Redis before the crash is not added twice, and consumer groups read the streams."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from pml.db.urls import libpq_url
from pml.events.schemas import ChangeEvent
from pml.events.streams import StreamPublisher, stream_keys
from pml.settings import Settings
from tests.conftest import server_env
from tests.pml.events.relay_support import (
    RelayProcess,
    stream_entries,
    stream_length,
    versions_by_patient,
    wait_for,
)
from tests.support.catalogue import query
from tests.support.factories import new_patient_id
from tests.support.servers import RedisProcess, create_migrated_database

SHARDS = 4
BATCH = 20  # small batches, so a kill lands mid-stream


@pytest.fixture
def relay_database(admin_url: str) -> str:
    """A database of its own, so the workload is exactly what each test puts in it."""
    return create_migrated_database(admin_url, prefix="pml_relay")


@pytest.fixture
def relay_redis(
    work_dir: Path, redis_url: str
) -> Iterator[str]:  # redis_url: skips cleanly without redis-server
    server = RedisProcess(work_dir / f"redis-{uuid.uuid4().hex[:8]}").start()
    yield server.url
    server.stop()


def _relay(settings: Settings, database_url: str, redis_url: str, log: Path, **env: str) -> RelayProcess:
    variables = server_env(
        settings,
        PML_DATABASE_URL=database_url,
        PML_REDIS_URL=redis_url,
        PML_EVENTS_STREAM_SHARDS=str(SHARDS),
        PML_EVENTS_RELAY_BATCH_SIZE=str(BATCH),
        **env,
    )
    return RelayProcess(variables, log)


def _record_changes(database_url: str, patients: list[str], versions: int) -> None:
    """List changes as the service records them (rows in list_change, whose trigger fills the outbox), the
    patients' versions interleaved as concurrent writers would commit them."""
    with psycopg.connect(libpq_url(database_url)) as connection:
        connection.cursor().executemany(
            "INSERT INTO patient_list (patient_id, version) VALUES (%s, %s)",
            [(p, versions) for p in patients],
        )
        connection.cursor().executemany(
            "INSERT INTO list_change (patient_id, version, action, actor, source) "
            'VALUES (%s, %s, \'review\', \'{"subject": "test", "role": "system"}\', \'gp\')',
            [(patient, version) for version in range(1, versions + 1) for patient in patients],
        )


def _unpublished(database_url: str) -> int:
    return int(query(database_url, "SELECT count(*) FROM event_outbox WHERE published_at IS NULL")[0][0])


def _assert_each_patient_in_order(redis_url: str, patients: list[str], versions: int) -> None:
    seen = versions_by_patient(stream_entries(redis_url, SHARDS))
    for patient in patients:
        assert seen.get(patient) == list(range(1, versions + 1)), f"{patient}: {seen.get(patient)}"


def test_the_outbox_reaches_the_streams_in_order_and_other_groups_can_read_them(
    server_settings: Settings, relay_database: str, relay_redis: str, work_dir: Path
) -> None:
    patients = [new_patient_id() for _ in range(5)]
    _record_changes(relay_database, patients, 12)
    relay = _relay(server_settings, relay_database, relay_redis, work_dir / "relay-order.log").start()
    try:
        wait_for(lambda: _unpublished(relay_database) == 0, what="the outbox to drain", timeout=60)
    finally:
        relay.stop()
    _assert_each_patient_in_order(relay_redis, patients, 12)
    assert stream_length(relay_redis, SHARDS) == 60
    assert _read_as_group(relay_redis, "cache-invalidation") == {p: list(range(1, 13)) for p in patients}


def _read_as_group(redis_url: str, group: str) -> dict[str, list[int]]:
    """What another consumer (say, a cache) reads through its own consumer group, acknowledging as it goes."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    read: dict[str, list[int]] = {}
    try:
        for key in stream_keys(SHARDS):
            client.xgroup_create(key, group, id="0", mkstream=True)
            for _key, entries in client.xreadgroup(group, "worker-1", {key: ">"}, count=1000):
                for entry_id, fields in entries:
                    read.setdefault(fields["patient_id"], []).append(int(fields["version"]))
                    client.xack(key, group, entry_id)
    finally:
        client.close()
    return read


def test_a_relay_killed_mid_stream_and_restarted_loses_and_reorders_nothing(
    server_settings: Settings, relay_database: str, relay_redis: str, work_dir: Path
) -> None:
    patients, versions = [new_patient_id() for _ in range(20)], 30
    _record_changes(relay_database, patients, versions)
    total = len(patients) * versions
    log = work_dir / "relay-kill.log"
    first = _relay(server_settings, relay_database, relay_redis, log).start()
    try:
        wait_for(
            lambda: stream_length(relay_redis, SHARDS) >= 60, what="the relay to be mid-stream", timeout=30
        )
    finally:
        first.kill()
    at_kill = stream_length(relay_redis, SHARDS)
    assert at_kill < total, "the relay finished before it was killed: the test proved nothing"
    second = _relay(server_settings, relay_database, relay_redis, log).start()
    try:
        wait_for(
            lambda: _unpublished(relay_database) == 0,
            what="the restarted relay to drain the outbox",
            timeout=60,
        )
        wait_for(
            lambda: _group_pending(relay_redis) == 0,
            what="the webhook group to acknowledge everything",
            timeout=30,
        )
    finally:
        second.stop()
    _assert_each_patient_in_order(relay_redis, patients, versions)  # no loss, no reordering, no duplicate
    assert stream_length(relay_redis, SHARDS) == total


def _group_pending(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        groups = [g for key in stream_keys(SHARDS) if client.exists(key) for g in client.xinfo_groups(key)]
        return sum(int(g["pending"]) for g in groups) if groups else -1
    finally:
        client.close()


def test_a_batch_already_in_the_stream_before_a_crash_is_not_added_again(
    server_settings: Settings, relay_database: str, relay_redis: str, work_dir: Path
) -> None:
    """The crash window: XADD happened, the rows were never marked published. Reproduced exactly by adding the
    first rows to the stream by hand, as the dead relay did, and leaving the outbox as it was."""
    patients = [new_patient_id() for _ in range(3)]
    _record_changes(relay_database, patients, 4)
    already = 5  # fewer than a batch: the dead relay's last batch reached Redis in part
    rows = query(
        relay_database,
        "SELECT event_id, patient_id, version, recorded_at FROM event_outbox ORDER BY seq LIMIT %s",
        already,
    )
    asyncio.run(_publish_by_hand(relay_redis, rows))
    relay = _relay(server_settings, relay_database, relay_redis, work_dir / "relay-dedupe.log").start()
    try:
        wait_for(lambda: _unpublished(relay_database) == 0, what="the outbox to drain", timeout=60)
    finally:
        relay.stop()
    _assert_each_patient_in_order(relay_redis, patients, 4)
    streamed_by_relay = query(relay_database, "SELECT count(*) FROM event_outbox WHERE stream_id IS NULL")
    assert streamed_by_relay == [(already,)]  # marked published without a second XADD


async def _publish_by_hand(redis_url: str, rows: list[tuple[object, ...]]) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        events = [
            ChangeEvent.of(
                event_id=event_id,
                patient_id=patient,
                version=version,
                action="review",
                entry_id=None,
                source="gp",
                organisation=None,
                recorded_at=recorded_at,
            )
            for event_id, patient, version, recorded_at in rows
        ]
        await StreamPublisher(client, SHARDS).publish(events)
    finally:
        await client.aclose()


def test_the_relay_rides_out_a_redis_outage(
    server_settings: Settings, relay_database: str, work_dir: Path, redis_url: str
) -> None:
    directory = work_dir / f"redis-outage-{uuid.uuid4().hex[:8]}"
    server = RedisProcess(directory).start()
    before, during = [new_patient_id() for _ in range(3)], [new_patient_id() for _ in range(3)]
    _record_changes(relay_database, before, 3)
    relay = _relay(server_settings, relay_database, server.url, work_dir / "relay-outage.log").start()
    try:
        wait_for(lambda: _unpublished(relay_database) == 0, what="the outbox to drain", timeout=60)
        server.stop()
        _record_changes(relay_database, during, 3)
        time.sleep(1)  # the relay keeps trying against the missing Redis meanwhile
        assert _unpublished(relay_database) == 9, "rows were marked published while Redis was down"
        server = RedisProcess(directory, port=server.port).start()  # empty: Redis kept nothing on disk
        wait_for(
            lambda: _unpublished(relay_database) == 0, what="the outbox to drain after the outage", timeout=60
        )
        _assert_each_patient_in_order(server.url, during, 3)
    finally:
        relay.stop()
        server.stop()
    assert relay.process is not None
    assert relay.process.returncode == 0  # it stopped cleanly on SIGTERM: it never gave up
