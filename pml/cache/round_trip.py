"""Several Redis commands in one round trip, with the least client-side work per call.

Every patient request sends the same three commands (the rate-limit count and the cache fetch). Through
redis-py's `Pipeline` that cost about a quarter of a cached read's CPU: a pipeline object per call, a pool
checkout and check-in with their lock, a readiness probe of the socket, observability bookkeeping and retry
wrappers. Here the commands are packed by the connection and the replies read in order, on connections this
process keeps checked out of the client's pool for the purpose. The commands are packed by hiredis's C
packer: redis-py's own packs each argument in Python, and a cache fill's script call has a dozen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.typing import EncodableT

Command = Sequence[EncodableT]
ScriptCall = tuple[AsyncScript, Sequence[EncodableT], Sequence[EncodableT]]  # the script, its keys, its args


def pack(commands: Sequence[Command]) -> bytes:
    """The commands in Redis's wire protocol (RESP), as redis-py would send them."""
    # hiredis's stub declares a one-element tuple; the packer takes any number of arguments.
    return b"".join([hiredis.pack_command(tuple(command)) for command in commands])  # type: ignore[arg-type]


class RoundTrips:
    def __init__(self, redis: Redis, *, timeout_seconds: float, keep: int = 16) -> None:
        self._pool = redis.connection_pool
        # Each call's deadline, all its replies included: the client has no socket timeout (api.app._redis).
        # On expiry the call raises TimeoutError, an OSError, which callers treat as Redis being unavailable.
        self.timeout_seconds = timeout_seconds
        self._idle: list[AbstractConnection] = []
        self._keep = keep  # more concurrent callers than this borrow from the pool and give back at once

    async def send(self, commands: Sequence[Command]) -> list[Any]:
        """The replies to `commands`, in order, within the deadline. An error reply raises
        `redis.exceptions.ResponseError`, a lost connection `redis.exceptions.ConnectionError`.

        A kept connection is not probed before use (that is a system call per request). One that Redis has
        closed meanwhile (a restart) fails at once, and the commands go again, once, on a connection the
        client's pool checks: so a Redis restart costs no request an error, and at most a rate-limit count
        twice (the scripts may run twice, see `scripts`)."""
        async with asyncio.timeout(self.timeout_seconds):
            return await self._send(commands)

    async def _send(self, commands: Sequence[Command]) -> list[Any]:
        if self._idle:
            try:
                return await self._send_on(self._idle.pop(), commands)
            except (RedisConnectionError, ConnectionError):
                pass
        return await self._send_on(await self._checkout(), commands)

    async def _send_on(self, connection: AbstractConnection, commands: Sequence[Command]) -> list[Any]:
        try:
            await connection.send_packed_command(pack(commands), check_health=False)
            replies = [await connection.read_response() for _ in commands]
        except BaseException:
            # Failed or cancelled part-way: replies may be left unread, so this connection is never reused.
            await connection.disconnect()
            await self._pool.release(connection)
            raise
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            await self._pool.release(connection)
        return replies

    async def script(
        self, script: AsyncScript, keys: Sequence[EncodableT], args: Sequence[EncodableT]
    ) -> Any:
        """Run a Lua script by its hash; a Redis that does not know it yet (new, restarted or flushed) is sent
        the whole script once, which it then keeps."""
        (reply,) = await self.scripts([(script, keys, args)])
        return reply

    async def scripts(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """Several scripts in one round trip, as `script`. After a NOSCRIPT every call is sent again in
        full, including any that had already run: only for scripts that may safely run twice. One deadline
        covers both."""
        async with asyncio.timeout(self.timeout_seconds):
            try:
                return await self._send([("EVALSHA", s.sha, len(k), *k, *args) for s, k, args in calls])
            except NoScriptError:
                return await self._send([("EVAL", s.script, len(k), *k, *args) for s, k, args in calls])

    async def _checkout(self) -> AbstractConnection:
        connection: AbstractConnection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        return connection

    async def close(self) -> None:
        """Give the kept connections back to the client's pool (before the client closes)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            await self._pool.release(connection)
