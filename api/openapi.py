"""The OpenAPI document says what the service really answers: every error is problem+json.

FastAPI documents 422 as its own `HTTPValidationError`; PML answers problem+json for 422 and every other
error, so each operation documents a `Problem` schema as its `default` response (and for 422), and clients
and property-based tests can hold the service to it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

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
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    _document_problems(operation)
            app.openapi_schema = schema
        return app.openapi_schema

    # FastAPI's documented way to customise the schema is to replace this method; mypy forbids assigning one.
    app.openapi = openapi  # type: ignore[method-assign]
