"""The OpenAPI document says what the service really answers: every error is problem+json.

FastAPI documents 422 as its own `HTTPValidationError`; PML answers problem+json for 422 and every other
error, so each operation documents a `Problem` schema as its `default` response (and for 422), and clients
and property-based tests can hold the service to it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from api.access import EMERGENCY_HEADER, PATIENT_ACCESS_MARK, PURPOSE_HEADER
from api.deps import PATIENT_ID_DESCRIPTION
from api.problems import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; `type` is stable, `detail` is for people.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": True,
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_REF}}}


def _document_problems(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            description = response.get("description", "problem")
            responses[status] = _problem_response(description)
    responses["default"] = _problem_response("any other error, as problem+json")


def _optional_header(name: str) -> dict[str, Any]:
    schema = {"anyOf": [{"type": "string"}, {"type": "null"}], "title": name.title()}
    return {"name": name, "in": "header", "required": False, "schema": schema}


# What `api.access.patient_access` reads from the request itself, as FastAPI documents declared parameters.
PATIENT_ACCESS_PARAMETERS: tuple[dict[str, Any], ...] = (
    {
        "name": "patient_id",
        "in": "path",
        "required": True,
        "description": PATIENT_ID_DESCRIPTION,
        "schema": {"type": "string", "title": "Patient Id", "description": PATIENT_ID_DESCRIPTION},
    },
    _optional_header(PURPOSE_HEADER),
    _optional_header(EMERGENCY_HEADER),
)


def _takes_patient_access(dependant: Dependant) -> bool:
    return any(
        hasattr(dependency.call, PATIENT_ACCESS_MARK) or _takes_patient_access(dependency)
        for dependency in dependant.dependencies
    )


def _document_patient_access(app: FastAPI, paths: dict[str, Any]) -> None:
    for route in iter_route_contexts(app.routes):  # routes of included routers with their full paths
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        if not _takes_patient_access(route.dependant) or route.path_format is None:
            continue
        for method in route.methods or ():
            operation = paths[route.path_format][method.lower()]
            parameters = operation.setdefault("parameters", [])
            declared = {(parameter["in"], parameter["name"].lower()) for parameter in parameters}
            missing = [p for p in PATIENT_ACCESS_PARAMETERS if (p["in"], p["name"].lower()) not in declared]
            operation["parameters"] = [*missing, *parameters]
            # An invalid national id or purpose of use is 422 even where FastAPI validates no parameter.
            operation.setdefault("responses", {}).setdefault("422", {"description": "Validation Error"})


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = PROBLEM_SCHEMA
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            _document_patient_access(app, schema.get("paths", {}))
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    _document_problems(operation)
            app.openapi_schema = schema
        return app.openapi_schema

    # FastAPI's documented way to customise the schema is to replace this method; mypy forbids assigning one.
    app.openapi = openapi  # type: ignore[method-assign]
