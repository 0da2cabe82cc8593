"""The access path's Redis round trip against a real redis-server: replies in order, and a call that fails or
is cancelled part-way never leaves a reply behind for the next caller on the same connection."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from pml.cache.round_trip import RoundTrips, pack
from tests.support.servers import RedisProcess


def _key() -> str:
    return f"test:round-trip:{uuid.uuid4().hex}"


async def _with_client(redis_url: str, body):  # type: ignore[no-untyped-def]
    redis = Redis.from_url(redis_url)
    round_trips = RoundTrips(redis, timeout_seconds=5, keep=1)
    try:
        return await body(redis, round_trips)
    finally:
        await round_trips.close()
        await redis.aclose()


def test_replies_come_back_in_the_order_of_the_commands(redis_url: str) -> None:
    key, hash_key = _key(), _key()

    async def body(redis: Redis, round_trips: RoundTrips) -> list[object]:
        await redis.hset(hash_key, mapping={"v": "7", "b": "body"})
        return await round_trips.send([("INCR", key), ("EXPIRE", key, 2), ("HMGET", hash_key, "v", "x", "b")])

    assert asyncio.run(_with_client(redis_url, body)) == [1, 1, [b"7", None, b"body"]]


def test_commands_are_packed_byte_for_byte_as_redis_py_packs_them() -> None:
    commands = [
        ("EVALSHA", "0" * 40, 2, "pml:list:13116900216", "pml:blocks:13116900216", b'{"v": 7}', 7, 3600),
        ("HMGET", "pml:patient:13116900216", "version", "body"),
        ("SET", "nærmeste pårørende", 2**40),
    ]
    assert pack(commands) == b"".join(Connection().pack_commands(commands))


def test_an_error_reply_part_way_leaves_nothing_behind_for_the_next_call(redis_url: str) -> None:
    text_key, counter = _key(), _key()

    async def body(redis: Redis, round_trips: RoundTrips) -> list[object]:
        await redis.set(text_key, "not a number")
        with pytest.raises(ResponseError):
            # The INCR fails and the HMGET's reply is still on the wire when the error is raised.
            await round_trips.send([("INCR", text_key), ("HMGET", text_key, "v")])
        return await round_trips.send([("INCR", counter), ("GET", counter)])

    assert asyncio.run(_with_client(redis_url, body)) == [1, b"1"]


def test_a_call_cancelled_while_waiting_leaves_nothing_behind_for_the_next_call(redis_url: str) -> None:
    counter, list_key = _key(), _key()

    async def body(redis: Redis, round_trips: RoundTrips) -> list[object]:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                # BLPOP on an empty list answers after 1 s; the deadline cancels the call while it waits.
                await round_trips.send([("BLPOP", list_key, 1)])
        await redis.rpush(list_key, "late")  # a reused connection would now read BLPOP's reply as ours
        return await round_trips.send([("INCR", counter)])

    assert asyncio.run(_with_client(redis_url, body)) == [1]


def test_a_script_redis_does_not_know_is_sent_once_and_then_run_by_its_hash(redis_url: str) -> None:
    key = _key()

    async def body(redis: Redis, round_trips: RoundTrips) -> tuple[list[object], list[object]]:
        script = redis.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        await redis.script_flush()  # as after a Redis restart: the hash is unknown
        replies = [await round_trips.script(script, [key], [2]), await round_trips.script(script, [key], [3])]
        return replies, await redis.script_exists(script.sha)

    replies, known = asyncio.run(_with_client(redis_url, body))
    assert replies == [2, 5]
    assert known == [True]


def test_a_kept_connection_to_a_restarted_redis_is_replaced_without_an_error(tmp_path: Path) -> None:
    redis_process = RedisProcess(tmp_path / "redis").start()
    key = _key()

    async def body() -> tuple[list[object], list[object]]:
        redis = Redis.from_url(redis_process.url)
        round_trips = RoundTrips(redis, timeout_seconds=5, keep=1)
        try:
            before = await round_trips.send([("INCR", key)])
            redis_process.stop()  # the kept connection is now closed by the server
            redis_process.start()  # same port, empty
            after = await round_trips.send([("INCR", key)])
            return before, after
        finally:
            await round_trips.close()
            await redis.aclose()

    try:
        assert asyncio.run(body()) == ([1], [1])
    finally:
        redis_process.stop()
