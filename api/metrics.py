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


# The pool gauges are sampled at most this often per process, not after every request: Prometheus scrapes
# every few seconds, and two gauge writes and three pool reads per request were a visible share of a cached
# read.
POOL_SAMPLE_SECONDS = 0.5
# Series are looked up once per (method, route, status): `labels()` takes a lock and builds the key each time.
# Routes and statuses are few; the bound only guards against a label value nobody foresaw.
MAX_REMEMBERED_SERIES = 4096


class MetricsMiddleware:
    """Counts and times every request by its route template (never the raw path: it holds national ids)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._pool_sampled_at = float("-inf")

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
            finished = time.perf_counter()
            latency, requests = self._series_for(scope["method"], route_template(scope), status)
            latency.observe(finished - started)
            requests.inc()
            if finished - self._pool_sampled_at >= POOL_SAMPLE_SECONDS:
                self._pool_sampled_at = finished
                _note_pool(scope["app"].state.database.write_engine.pool)

    def _series_for(self, method: str, template: str, status: int) -> tuple[Any, Any]:
        key = (method, template, status)
        series = self._series.get(key)
        if series is None:
            latency = HTTP_LATENCY.labels(method, template)
            series = (latency, HTTP_REQUESTS.labels(method, template, str(status)))
            if len(self._series) < MAX_REMEMBERED_SERIES:
                self._series[key] = series
        return series


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
