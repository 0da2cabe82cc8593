"""Liveness and readiness.

Ready means the database answers; a load balancer stops sending traffic otherwise.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from redis.exceptions import RedisError
from sqlalchemy import text
from starlette.responses import Response

from api.deps import DatabaseDep
from api.problems import problem_response

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "live"}


@router.get("/ready", response_model=None)
async def ready(request: Request, database: DatabaseDep) -> dict[str, object] | Response:
    """The database answers a query; 503 problem otherwise. A degraded cache is reported but not fatal:
    without Redis the service serves from PostgreSQL, slower."""
    try:
        async with database.read_transaction() as session:
            await session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure to reach the database means not ready
        return problem_response(503, "not-ready", "Not ready", "the database does not answer")
    return {"status": "ready", "checks": {"database": "ok", "cache": await _cache_status(request)}}


async def _cache_status(request: Request) -> str:
    redis = request.app.state.redis
    if redis is not None:
        try:
            async with asyncio.timeout(request.app.state.settings.redis_timeout_seconds):
                await redis.ping()
        except (RedisError, OSError):
            return "degraded"
    status: str = request.app.state.patient_cache.status
    return status
