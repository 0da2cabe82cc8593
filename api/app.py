"""The FastAPI application: lifespan (engines, keys), middleware, problem handlers and routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from redis.asyncio import Redis
from starlette.responses import HTMLResponse

import pml
from api import health, metrics, mobile
from api.audit import AuditMiddleware
from api.auth import TokenVerifier, load_key_set
from api.caching import keep_cache_in_step, patient_cache_for
from api.cds import routes as cds_hooks
from api.fhir import routes as fhir
from api.metrics import MetricsMiddleware
from api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from api.openapi import install_openapi
from api.problems import install_problem_handlers
from api.ratelimit import RateLimiter
from api.v1 import (
    administration,
    catalogue,
    doses,
    interactions,
    medication_list,
    privacy,
    reconciliation,
    subscriptions,
)
from pml.audit.writer import AuditWriter
from pml.cache.round_trip import RoundTrips
from pml.catalogue.runtime import start_catalogue
from pml.db.engine import Database
from pml.logging import configure_logging
from pml.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """PML is the national patient medication list (pasientens legemiddelliste).

Every write carries `If-Match` with the list version it is based on and may carry an `Idempotency-Key`.
Errors are RFC 9457 problem+json with a stable `type`.
"""


def _database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url
    # No URL configured: the embedded development server (the CLI normally starts it before the workers).
    from pml.db.embedded import server_database_url, start_embedded_server

    return server_database_url(start_embedded_server(settings.data_dir))


def _redis(settings: Settings) -> Redis | None:
    if settings.redis_url is None:
        return None
    # A slow Redis must cost a request milliseconds, not seconds; PostgreSQL is the truth. The bound is one
    # deadline around each whole operation (PML_REDIS_TIMEOUT_SECONDS, applied by RoundTrips to every round
    # trip, and by the cache and the health check to their few direct calls), not redis-py's socket timeout:
    # that arms a timer for every reply and every send, about a tenth of a cached read's CPU. A cancelled call
    # drops its connection, so no reply is left behind for the next caller.
    timeout = settings.redis_timeout_seconds
    return Redis.from_url(settings.redis_url, socket_timeout=None, socket_connect_timeout=timeout)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, access_log=settings.access_log)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.database = Database.from_settings(settings, _database_url(settings))
        app.state.token_verifier = TokenVerifier(settings, load_key_set(settings))
        app.state.audit_writer = AuditWriter(app.state.database)
        app.state.redis = _redis(settings)
        # One set of kept connections for the rate limiter's and the cache's commands (pml.cache.round_trip).
        round_trips = (
            RoundTrips(app.state.redis, timeout_seconds=settings.redis_timeout_seconds)
            if app.state.redis is not None
            else None
        )
        app.state.rate_limiter = RateLimiter(settings.rate_limit_per_second, round_trips)
        app.state.catalogue = await start_catalogue(app.state.database, settings.catalogue_refresh_seconds)
        app.state.patient_cache = patient_cache_for(settings, app.state.redis, round_trips)
        keep_cache_in_step(app.state.database, app.state.patient_cache)
        log.info(
            "PML API started", extra={"cache": app.state.patient_cache.status, "version": pml.__version__}
        )
        yield
        await app.state.catalogue.stop()
        await app.state.audit_writer.close()
        await app.state.database.dispose()
        if round_trips is not None:
            await round_trips.close()
        if app.state.redis is not None:
            await app.state.redis.aclose()

    app = FastAPI(
        title="PML — pasientens legemiddelliste",
        version=pml.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        # PML's metrics are Prometheus (/metrics) and its logs JSON lines with request ids. FastAPI's native
        # OpenTelemetry, left on, looks up the global OpenTelemetry providers (environment reads included) on
        # every request only to find none configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_problem_handlers(app)
    install_openapi(app)
    app.add_middleware(
        BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes, max_json_depth=settings.max_json_depth
    )
    app.add_middleware(AuditMiddleware)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    v1 = APIRouter(prefix="/v1")
    v1.include_router(medication_list.router)
    v1.include_router(privacy.router)
    v1.include_router(interactions.router)
    v1.include_router(catalogue.router)
    v1.include_router(reconciliation.router)
    v1.include_router(doses.router)
    v1.include_router(administration.router)
    v1.include_router(subscriptions.router)
    app.router.routes[0:0] = medication_list.DIRECT_ROUTES  # the hottest reads, without FastAPI's route work
    # Probes and scrapes ahead of /v1: a request is matched against every route before it, one regular
    # expression each, and /v1 has dozens (behind them, /health/live spent a fifth to a third of its CPU).
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(v1)
    app.include_router(fhir.router)
    app.include_router(cds_hooks.router)
    app.include_router(mobile.router)  # the home-care PWA under /app/

    @app.get("/v1/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/v1/openapi.json", title="PML API v1")

    return app
