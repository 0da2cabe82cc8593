"""Redis Streams of change events, sharded by patient.

Each patient's events go to one of N streams, `pml:events:list-changed:{<shard>}` (the braces are a Redis
Cluster hash tag, so each stream lives on one node), chosen by a stable hash of the national id. Within a
stream entries keep the order the relay added them in, so each patient's events are in version order. Consumer
groups spread a stream's entries over their consumers without regard to patient, so a consumer that needs
per-patient order reads each shard with one consumer at a time (as PML's own webhook fan-out does not need to:
it orders deliveries per patient itself), and every consumer skips versions it has already seen.

Every entry carries the event id, patient and version, so a consumer can de-duplicate an event the relay
published twice (at least once: a relay killed between XADD and marking the row published adds it again).
"""

from __future__ import annotations

import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from pml.events.schemas import ChangeEvent

STREAM_PREFIX = "pml:events:list-changed"
# Each shard keeps about this many entries (XADD MAXLEN ~): days of changes at national volume. Subscribers
# that fall further behind catch up from /v1's delta sync, which keeps everything.
STREAM_MAX_LENGTH = 1_000_000
WEBHOOK_GROUP = "pml-webhooks"


def shard_of(patient_id: str, shards: int) -> int:
    """A patient's shard: the same in every process and release (not Python's salted hash())."""
    return zlib.crc32(patient_id.encode()) % shards


def stream_key(shard: int) -> str:
    return f"{STREAM_PREFIX}:{{{shard}}}"


def stream_keys(shards: int) -> list[str]:
    return [stream_key(shard) for shard in range(shards)]


def stream_fields(event: ChangeEvent) -> dict[str, str]:
    return {
        "event_id": str(event.event_id),
        "type": event.type,
        "patient_id": event.patient_id,
        "version": str(event.version),
        "action": event.action,
        "data": event.model_dump_json(),
    }


def event_from_fields(fields: dict[bytes, bytes]) -> ChangeEvent:
    return ChangeEvent.model_validate(orjson.loads(fields[b"data"]))


class StreamPublisher:
    def __init__(self, redis: Redis, shards: int) -> None:
        self._redis = redis
        self._shards = shards

    async def publish(self, events: Iterable[ChangeEvent]) -> dict[uuid.UUID, str]:
        """XADD each event to its patient's shard, in the order given; the stream id of each event.

        Each shard's events go in one MULTI/EXEC, so a batch for a shard is added whole or not at all."""
        by_shard: dict[int, list[ChangeEvent]] = defaultdict(list)
        for event in events:
            by_shard[shard_of(event.patient_id, self._shards)].append(event)
        ids: dict[uuid.UUID, str] = {}
        for shard, shard_events in by_shard.items():
            async with self._redis.pipeline(transaction=True) as pipe:
                for event in shard_events:
                    pipe.xadd(
                        stream_key(shard),
                        # redis-py asks for a dict[FieldT, EncodableT] (invariant) where a Mapping would do.
                        stream_fields(event),  # type: ignore[arg-type]
                        maxlen=STREAM_MAX_LENGTH,
                        approximate=True,
                    )
                added = await pipe.execute()
            ids |= {
                event.event_id: _text(stream_id) for event, stream_id in zip(shard_events, added, strict=True)
            }
        return ids

    async def recent_event_ids(self, per_shard: int) -> set[uuid.UUID]:
        """The event ids of the newest entries of every shard: after a crash, the relay's last batch may be
        in the stream already though its rows were never marked published."""
        recent: set[uuid.UUID] = set()
        for key in stream_keys(self._shards):
            for _stream_id, fields in await self._redis.xrevrange(key, count=per_shard) or []:
                if fields:
                    recent.add(uuid.UUID(_text(fields[b"event_id"])))
        return recent


async def ensure_group(redis: Redis, key: str, group: str) -> None:
    """Create the consumer group from the start of the stream (and the stream) unless it exists."""
    try:
        await redis.xgroup_create(key, group, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
