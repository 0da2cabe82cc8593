"""The list read is answered by a plain Starlette route registered ahead of the FastAPI one; the FastAPI route
at the same path documents it. Both must carry the same name (audit records and metrics use it)."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Match

from api.app import create_app
from api.v1.medication_list import DirectRoute
from pml.settings import Settings

LIST_PATH = "/v1/patients/{patient_id}/medication-list"
ENTRY_PATH = "/v1/patients/13116900216/medication-list/entries/0b1c2d3e-0000-4000-8000-000000000000"


def _first_full_match(app_routes: list[object], method: str, path: str) -> object:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    for route in app_routes:
        match, _ = route.matches(scope)  # type: ignore[attr-defined]
        if match is Match.FULL:
            return route
    raise AssertionError(f"no route answers {method} {path}")


def test_the_list_read_is_answered_by_the_direct_route_and_documented_by_the_fastapi_route(
    tmp_path: Path,
) -> None:
    app = create_app(Settings(database_url="postgresql://unused@127.0.0.1/unused", data_dir=tmp_path))
    answering = _first_full_match(list(app.router.routes), "GET", "/v1/patients/13116900216/medication-list")
    assert isinstance(answering, DirectRoute)
    assert answering.name == "read_list"
    documented = app.openapi()["paths"][LIST_PATH]["get"]
    assert documented["operationId"].startswith("read_list")
    assert "304" in documented["responses"]


def test_probes_and_metrics_are_matched_before_any_v1_route(tmp_path: Path) -> None:
    """Every route ahead of a request's own is tried on it; /health and /metrics must not wait behind /v1."""
    app = create_app(Settings(database_url="postgresql://unused@127.0.0.1/unused", data_dir=tmp_path))
    routes = list(app.router.routes)
    v1_position = routes.index(_first_full_match(routes, "PATCH", ENTRY_PATH))
    for path in ("/health/live", "/health/ready", "/metrics"):
        assert routes.index(_first_full_match(routes, "GET", path)) < v1_position, path

