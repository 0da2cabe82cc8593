"""Per-client rate limits: a fixed one-second window per token subject, counted in Redis so every worker
process and node shares it. Without Redis (embedded default, or Redis down) each process counts for itself:
the limit still holds per process, and the service keeps serving."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import cast

from redis.exceptions import RedisError

from pml.cache.round_trip import Command, RoundTrips
from pml.errors import DomainError

log = logging.getLogger(__name__)


class RateLimited(DomainError):
    problem_type = "rate-limited"
    title = "Too many requests"
    status = 429


class LocalWindowCounter:
    """Counts per client in this process; keeps only recent windows so memory stays bounded."""

    def __init__(self, max_clients: int = 100_000) -> None:
        self._counts: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._max_clients = max_clients

    def hit(self, client: str, window: int) -> int:
        key = (client, window)
        count = self._counts.pop(key, 0) + 1
        self._counts[key] = count
        while len(self._counts) > self._max_clients:
            self._counts.popitem(last=False)
        return count


class RateLimiter:
    # After a Redis failure, count in this process for this long instead of paying a timeout per request.
    pause_after_error_seconds = 1.0

    def __init__(self, limit_per_second: int, round_trips: RoundTrips | None) -> None:
        self._limit = limit_per_second
        self._round_trips = round_trips  # None: no Redis, count in this process (they bound the wait)
        self._local = LocalWindowCounter()
        self._paused_until = 0.0

    async def check(self, client: str) -> None:
        """Count one request for `client`; 429 with Retry-After when it is over its limit this second."""
        window = int(time.time())
        self.enforce(await self._count(client, window))

    def count_commands(self, client: str) -> tuple[int, list[Command]]:
        """The window and the Redis commands that count one request for `client`, for a caller that sends them
        with other commands in the same round trip; the first reply goes to `counted`."""
        window = int(time.time())
        return window, self._commands(client, window)

    def counted(self, client: str, window: int, count: object) -> None:
        """The INCR reply of `count_commands` (None when Redis failed: count in this process instead)."""
        self.enforce(int(cast("int", count)) if count is not None else self._redis_failed(client, window))

    def enforce(self, count: int) -> None:
        if count > self._limit:
            raise RateLimited(
                f"more than {self._limit} requests in one second from this client; slow down",
                retry_after=1,
            )

    @staticmethod
    def _commands(client: str, window: int) -> list[Command]:
        key = f"pml:ratelimit:{{{client}}}:{window}"
        return [("INCR", key), ("EXPIRE", key, 2)]

    async def _count(self, client: str, window: int) -> int:
        if self._round_trips is None or time.monotonic() < self._paused_until:
            return self._local.hit(client, window)
        try:
            count, _expiry = await self._round_trips.send(self._commands(client, window))
        except (RedisError, OSError):  # OSError includes the deadline's TimeoutError
            return self._redis_failed(client, window)
        return int(count)

    def _redis_failed(self, client: str, window: int) -> int:
        log.warning("rate limiter: Redis unavailable, counting in this process")
        self._paused_until = time.monotonic() + self.pause_after_error_seconds
        return self._local.hit(client, window)
