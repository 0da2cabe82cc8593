"""Per-patient cache: the serialized current list (keyed by its version) and the patient's access blocks.

One Redis hash per patient, `pml:patient:{<national id>}` (the braces are a Redis Cluster hash tag), so one
round trip fetches everything an access check and a list read need:

- `v`: the newest list version the API has exposed. It only moves forward (a Lua script refuses to lower it),
  and a write moves it after its commit and before its response, so a reader can never be served a version
  older than one the API has already shown anyone.
- `b` + `bv`: the response bytes of the list at version `bv`; a hit needs `bv == v`, so bytes from a slow
  reader can never replace a newer version.
- `kg`, `k` + `kv`: the blocks generation, bumped after every block change, and the blocks read at generation
  `kv`; they are trusted only while `kv == kg`.

Every entry expires (`ttl_seconds`), which bounds how long a stale pointer can survive the one failure this
cannot see: a write whose post-commit update never reached Redis. A process that fails to update Redis
remembers those patients and deletes their entries before it uses Redis again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT

from pml.cache.round_trip import Command, RoundTrips, ScriptCall

log = logging.getLogger(__name__)

Block = str  # "clinician:<hpr>" or "organisation:<orgnr>"


@dataclass(frozen=True, slots=True)
class CachedPatient:
    list_version: int | None = None
    list_body: bytes | None = None
    blocks: frozenset[Block] | None = None
    blocks_generation: int = 0


MISS = CachedPatient()


class PatientCache(ABC):
    """The operations the API needs; every method tolerates the cache being unavailable."""

    @property
    def status(self) -> str:
        return "ok"

    @abstractmethod
    async def fetch(self, patient_id: str) -> CachedPatient: ...

    @abstractmethod
    async def remember_list(self, patient_id: str, version: int, body: bytes) -> None:
        """Keep `body` as the list at `version`, unless a newer version is already known."""

    @abstractmethod
    async def advance_list(self, patient_id: str, version: int) -> None:
        """A write committed `version`: move the pointer forward (the bytes are rebuilt by the next read)."""

    @abstractmethod
    async def remember_blocks(self, patient_id: str, generation: int, blocks: frozenset[Block]) -> None:
        """Keep `blocks` as read at `generation`, unless the blocks changed meanwhile."""

    @abstractmethod
    async def blocks_changed(self, patient_id: str) -> None: ...

    async def remember_list_and_blocks(
        self, patient_id: str, version: int, body: bytes, generation: int, blocks: frozenset[Block]
    ) -> None:
        """`remember_list` and `remember_blocks`, for a read that had neither (one round trip in Redis)."""
        await self.remember_list(patient_id, version, body)
        await self.remember_blocks(patient_id, generation, blocks)


# Both scripts leave the same state when run twice with the same arguments (RoundTrips.scripts relies on it).
_REMEMBER_LIST = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
local version = tonumber(ARGV[1])
if version < current then return 0 end
if ARGV[2] == '' then
  if version > current then
    redis.call('HSET', KEYS[1], 'v', version)
    redis.call('HDEL', KEYS[1], 'b', 'bv')
  end
else
  redis.call('HSET', KEYS[1], 'v', version, 'b', ARGV[2], 'bv', version)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

_REMEMBER_BLOCKS = """
local generation = redis.call('HGET', KEYS[1], 'kg') or '0'
if generation ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'k', ARGV[2], 'kv', generation)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


_FIELDS = ("v", "b", "bv", "kg", "k", "kv")


def _key(patient_id: str) -> str:
    return f"pml:patient:{{{patient_id}}}"


def _decode_blocks(raw: bytes | None) -> frozenset[Block] | None:
    return None if raw is None else frozenset(json.loads(raw))


def _encode_blocks(blocks: frozenset[Block]) -> str:
    return json.dumps(sorted(blocks))


@dataclass
class RedisPatientCache(PatientCache):
    redis: Redis
    # Commands go through these rather than the client's own calls (see pml.cache.round_trip); they bound
    # their own wait.
    round_trips: RoundTrips
    ttl_seconds: int = 300
    # The deadline of the few operations that use the client directly (the same as the round trips').
    timeout_seconds: float = 0.25
    # After a failure, leave Redis alone this long instead of paying a timeout on every request.
    pause_after_error_seconds: float = 1.0
    _paused_until: float = 0.0
    _dirty: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._remember_list = self.redis.register_script(_REMEMBER_LIST)
        self._remember_blocks = self.redis.register_script(_REMEMBER_BLOCKS)

    @property
    def status(self) -> str:
        return "degraded" if self._dirty or time.monotonic() < self._paused_until else "ok"

    async def fetch(self, patient_id: str) -> CachedPatient:
        if not await self.usable():
            return MISS
        try:
            (fields,) = await self.round_trips.send([self.fetch_command(patient_id)])
        except (RedisError, OSError) as error:
            self.failed(error)
            return MISS
        return self.parse_fetched(fields)

    @staticmethod
    def fetch_command(patient_id: str) -> Command:
        """`fetch`'s command, for a caller that sends it with other commands in the same round trip; its reply
        goes to `parse_fetched` (and a failure to `failed`)."""
        return ("HMGET", _key(patient_id), *_FIELDS)

    @staticmethod
    def parse_fetched(fields: object) -> CachedPatient:
        # The client is made without decode_responses, so values are bytes; redis-py can only say bytes | str.
        v, b, bv, kg, k, kv = cast("list[bytes | None]", fields)
        version = int(v) if v is not None else None
        body = b if b is not None and bv == v else None
        generation = int(kg or 0)
        blocks = _decode_blocks(k) if k is not None and int(kv or -1) == generation else None
        return CachedPatient(version, body, blocks, generation)

    async def remember_list(self, patient_id: str, version: int, body: bytes) -> None:
        if await self.usable():
            await self._run([self._list_call(patient_id, version, body)], patient_id, must=False)

    async def advance_list(self, patient_id: str, version: int) -> None:
        await self._run([self._list_call(patient_id, version, b"")], patient_id, must=True)

    async def remember_blocks(self, patient_id: str, generation: int, blocks: frozenset[Block]) -> None:
        if await self.usable():
            await self._run([self._blocks_call(patient_id, generation, blocks)], patient_id, must=False)

    async def remember_list_and_blocks(
        self, patient_id: str, version: int, body: bytes, generation: int, blocks: frozenset[Block]
    ) -> None:
        if await self.usable():
            list_call = self._list_call(patient_id, version, body)
            blocks_call = self._blocks_call(patient_id, generation, blocks)
            await self._run([list_call, blocks_call], patient_id, must=False)

    def _list_call(self, patient_id: str, version: int, body: bytes) -> ScriptCall:
        """The list's bytes at `version` (empty bytes: only move the version pointer)."""
        return self._remember_list, [_key(patient_id)], [version, body, self.ttl_seconds]

    def _blocks_call(self, patient_id: str, generation: int, blocks: frozenset[Block]) -> ScriptCall:
        args: list[EncodableT] = [str(generation), _encode_blocks(blocks), self.ttl_seconds]
        return self._remember_blocks, [_key(patient_id)], args

    async def blocks_changed(self, patient_id: str) -> None:
        try:
            async with asyncio.timeout(self.timeout_seconds), self.redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(_key(patient_id), "kg", 1)
                pipe.expire(_key(patient_id), self.ttl_seconds)
                await pipe.execute()
        except (RedisError, OSError) as error:
            self.failed(error, dirty=patient_id)

    async def _run(self, calls: list[ScriptCall], patient_id: str, *, must: bool) -> None:
        """The scripts in one round trip; on failure, pause Redis use (and with `must`, drop the patient's
        entry before using Redis again: it may now be behind PostgreSQL)."""
        try:
            await self.round_trips.scripts(calls)
        except (RedisError, OSError) as error:
            self.failed(error, dirty=patient_id if must else None)

    def failed(self, error: Exception, dirty: str | None = None) -> None:
        log.warning("patient cache: Redis unavailable (%s); serving from PostgreSQL", type(error).__name__)
        self._paused_until = time.monotonic() + self.pause_after_error_seconds
        if dirty is not None:
            self._dirty.add(dirty)

    async def usable(self) -> bool:
        """Redis may be used: not paused, and entries this process could not update are gone."""
        if time.monotonic() < self._paused_until:
            return False
        if not self._dirty:
            return True
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await self.redis.delete(*(_key(patient_id) for patient_id in self._dirty))
        except (RedisError, OSError) as error:
            self.failed(error)
            return False
        self._dirty.clear()
        return True


@dataclass
class _LocalEntry:
    version: int = -1
    body: bytes | None = None
    blocks_generation: int = 0
    blocks: frozenset[Block] | None = None
    blocks_read_at: int = -1


class LocalPatientCache(PatientCache):
    """The same rules in this process's memory, for a single-process server without Redis (the embedded
    default). Only correct when every write to these patients goes through this process."""

    status = "local"

    def __init__(self, max_patients: int = 10_000) -> None:
        self._entries: OrderedDict[str, _LocalEntry] = OrderedDict()
        self._max_patients = max_patients

    async def fetch(self, patient_id: str) -> CachedPatient:
        entry = self._entries.get(patient_id)
        if entry is None:
            return MISS
        self._entries.move_to_end(patient_id)
        blocks = entry.blocks if entry.blocks_read_at == entry.blocks_generation else None
        version = entry.version if entry.version >= 0 else None
        return CachedPatient(version, entry.body, blocks, entry.blocks_generation)

    async def remember_list(self, patient_id: str, version: int, body: bytes) -> None:
        entry = self._entry(patient_id)
        if version >= entry.version:
            entry.version, entry.body = version, body

    async def advance_list(self, patient_id: str, version: int) -> None:
        entry = self._entry(patient_id)
        if version > entry.version:
            entry.version, entry.body = version, None

    async def remember_blocks(self, patient_id: str, generation: int, blocks: frozenset[Block]) -> None:
        entry = self._entry(patient_id)
        if entry.blocks_generation == generation:
            entry.blocks, entry.blocks_read_at = blocks, generation

    async def blocks_changed(self, patient_id: str) -> None:
        self._entry(patient_id).blocks_generation += 1

    def _entry(self, patient_id: str) -> _LocalEntry:
        entry = self._entries.setdefault(patient_id, _LocalEntry())
        self._entries.move_to_end(patient_id)
        while len(self._entries) > self._max_patients:
            self._entries.popitem(last=False)
        return entry


class NoPatientCache(PatientCache):
    """Several processes and no Redis: nothing can be cached safely, so nothing is."""

    status = "off"

    async def fetch(self, patient_id: str) -> CachedPatient:
        return MISS

    async def remember_list(self, patient_id: str, version: int, body: bytes) -> None:
        return None

    async def advance_list(self, patient_id: str, version: int) -> None:
        return None

    async def remember_blocks(self, patient_id: str, generation: int, blocks: frozenset[Block]) -> None:
        return None

    async def blocks_changed(self, patient_id: str) -> None:
        return None
