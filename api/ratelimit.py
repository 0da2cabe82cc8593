"""Per-client rate limits: a fixed one-second window per token subject, counted in Redis so every worker
process and node shares it. Without Redis (embedded default, or Redis down) each process counts for itself:
the limit still holds per process, and the service keeps serving."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from redis.asyncio import Redis
from redis.exceptions import RedisError

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
    def __init__(self, limit_per_second: int, redis: Redis | None) -> None:
        self._limit = limit_per_second
        self._redis = redis
        self._local = LocalWindowCounter()

    async def check(self, client: str) -> None:
        """Count one request for `client`; 429 with Retry-After when it is over its limit this second."""
        window = int(time.time())
        count = await self._count(client, window)
        if count > self._limit:
            raise RateLimited(
                f"more than {self._limit} requests in one second from this client; slow down",
                retry_after=1,
            )

    async def _count(self, client: str, window: int) -> int:
        if self._redis is None:
            return self._local.hit(client, window)
        key = f"pml:ratelimit:{{{client}}}:{window}"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 2)
                count, _ = await pipe.execute()
            return int(count)
        except (RedisError, OSError):
            log.warning("rate limiter: Redis unavailable, counting in this process")
            return self._local.hit(client, window)
