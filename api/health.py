"""Liveness and readiness. Ready means the database answers; a load balancer stops sending traffic otherwise."""

from __future__ import annotations

from fastapi import APIRouter
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
async def ready(database: DatabaseDep) -> dict[str, object] | Response:
    """The database answers a query; 503 problem otherwise."""
    try:
        async with database.read_transaction() as session:
            await session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure to reach the database means not ready
        return problem_response(503, "not-ready", "Not ready", "the database does not answer")
    return {"status": "ready", "checks": {"database": "ok"}}
