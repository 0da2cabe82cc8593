"""Pure ASGI middleware: request ids, and refusing hostile bodies before any parsing.

A body over the size limit is refused with 413 as soon as its declared or streamed length passes the limit;
a JSON body nested deeper than the limit is refused with 422 before a JSON parser can recurse into it.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from api.problems import PROBLEM_BASE, PROBLEM_CONTENT_TYPE
from pml.logging import request_id_var

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")


def json_nesting_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects, ignoring brackets inside strings. One pass, no recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSERS:
            depth -= 1
    return deepest


async def send_problem(send: Send, status: int, slug: str, title: str, detail: str) -> None:
    import orjson

    body = orjson.dumps({"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail})
    headers = [(b"content-type", PROBLEM_CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def new_request_id() -> str:
    """128 random bits as 32 hex digits, like uuid4().hex, without uuid4's read of the system's random source
    (a system call on every request). A request id only has to be unique, not unguessable; the module's
    generator is reseeded in every forked worker."""
    return f"{random.getrandbits(128):032x}"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        if self._declared_length(scope) > self.max_body_bytes:
            await self._refuse_size(send)
            return
        body = await self._read_body(receive)
        if body is None:
            await self._refuse_size(send)
            return
        if self._is_json(scope) and self._too_deep(body):
            await send_problem(
                send, 422, "json-too-deep", "JSON nested too deeply",
                f"the body nests arrays and objects more than {self.max_json_depth} levels deep",
            )
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_deep(self, body: bytes) -> bool:
        # Fewer brackets than the limit cannot nest past it: skip the byte-by-byte scan (the common case).
        if body.count(b"[") + body.count(b"{") <= self.max_json_depth:
            return False
        return json_nesting_depth(body) > self.max_json_depth

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return int(value) if value.isdigit() else 0
        return 0

    @staticmethod
    def _is_json(scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-type":
                return b"json" in value.lower()
        return False

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it grows past the limit (the rest is never buffered)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse_size(self, send: Send) -> None:
        await send_problem(
            send, 413, "body-too-large", "Request body too large",
            f"the request body is larger than {self.max_body_bytes} bytes",
        )


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the buffered body to the app once; afterwards pass through (so a real disconnect is seen)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive


# Responses under these paths hold patient data: no browser, proxy or shared cache may keep them.
PATIENT_DATA_PREFIXES = ("/v1/patients/", "/v1/audit/", "/fhir/")


class RequestIdMiddleware:
    """Carries the caller's X-Request-ID (or a new one) into logs and back in the response, and marks
    patient data as not to be stored by any HTTP cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._incoming(scope) or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        request_id_var.set(request_id)

        extra = [(b"x-request-id", request_id.encode())]
        if scope["path"].startswith(PATIENT_DATA_PREFIXES):
            extra.append((b"cache-control", b"no-store"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_id)

    @staticmethod
    def _incoming(scope: Scope) -> str | None:
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                text: str = value.decode("latin-1")
                if 0 < len(text) <= 128 and text.isprintable():
                    return text
        return None
