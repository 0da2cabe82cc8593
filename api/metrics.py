"""HTTP metrics middleware and the /metrics endpoint."""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.responses import Response

from api.middleware import ASGIApp, Message, Receive, Scope, Send
from pml.metrics import DB_POOL_CHECKED_OUT, DB_POOL_SIZE, HTTP_LATENCY, HTTP_REQUESTS

router = APIRouter(tags=["health"])


class MetricsMiddleware:
    """Counts and times every request by its route template (never the raw path: it holds national ids)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            template = route_template(scope)
            HTTP_LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
            _note_pool(scope["app"].state.database.write_engine.pool)


def route_template(scope: Scope) -> str:
    """The path with its parameters put back as `{name}`: '/v1/patients/{patient_id}/medication-list'.

    Built from the matched path because routers included with a prefix keep only their own part."""
    if scope.get("route") is None:
        return "unmatched"
    by_value = {str(value): name for name, value in scope.get("path_params", {}).items()}
    return "/".join(
        f"{{{by_value[segment]}}}" if segment in by_value else segment for segment in scope["path"].split("/")
    )


def _note_pool(pool: Any) -> None:
    DB_POOL_CHECKED_OUT.set(pool.checkedout())
    DB_POOL_SIZE.set(pool.checkedout() + pool.checkedin())


def _registry() -> CollectorRegistry | None:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client: no annotations
    return registry


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus exposition of every worker's metrics."""
    _note_pool(request.app.state.database.write_engine.pool)
    registry = _registry()
    body = generate_latest(registry) if registry is not None else generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
