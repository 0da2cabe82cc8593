"""How the relay's loops report trouble: an unreachable Redis or database is expected in operation (a restart,
a failover) and is one warning line per try; anything else is a bug and gets its traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OperationalError, InterfaceError, OSError)


def log_failure(log: logging.Logger, what: str, error: Exception) -> None:
    if isinstance(error, UNAVAILABLE):
        log.warning("%s: %s; retrying", what, error)
    else:
        log.exception("%s; retrying", what)


MAX_WAIT_SECONDS = 5.0


class Backoff:
    """The wait after a failure: the poll interval, doubled for each failure in a row up to five seconds, so
    an outage costs a few log lines rather than a flood; a success starts over."""

    def __init__(self, poll_seconds: float) -> None:
        self._poll = poll_seconds
        self._failures = 0

    def failed(self) -> float:
        self._failures += 1
        return float(min(self._poll * 2 ** (self._failures - 1), MAX_WAIT_SECONDS))

    def succeeded(self) -> None:
        self._failures = 0


async def sleep_until_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when the relay is asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
