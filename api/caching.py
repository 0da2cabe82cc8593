"""Wiring the patient cache into the API: which cache a process uses, and keeping it in step with commits."""

from __future__ import annotations

from redis.asyncio import Redis

from pml.cache.patient_cache import LocalPatientCache, NoPatientCache, PatientCache, RedisPatientCache
from pml.cache.round_trip import RoundTrips
from pml.db.engine import Database
from pml.medication_list.events import ListVersionCommitted
from pml.privacy.events import BlocksChanged
from pml.settings import Settings


def patient_cache_for(
    settings: Settings, redis: Redis | None, round_trips: RoundTrips | None
) -> PatientCache:
    if redis is not None and round_trips is not None:
        return RedisPatientCache(
            redis, round_trips, ttl_seconds=settings.cache_ttl_seconds,
            timeout_seconds=settings.redis_timeout_seconds,
        )
    if settings.local_cache:
        return LocalPatientCache()
    return NoPatientCache()


def keep_cache_in_step(database: Database, cache: PatientCache) -> None:
    """After every commit: a new list version moves the cache's pointer, a block change its generation."""

    async def on_commit(event: object) -> None:
        if isinstance(event, ListVersionCommitted):
            await cache.advance_list(event.patient_id, event.version)
        elif isinstance(event, BlocksChanged):
            await cache.blocks_changed(event.patient_id)

    database.subscribe(on_commit)
