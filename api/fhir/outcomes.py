"""Every error under /fhir leaves as a FHIR OperationOutcome, never as problem+json.

`FhirRoute` wraps each FHIR route's handler, dependencies included, so authentication, access, validation and
domain errors, and unexpected ones, are all rendered here. The issue carries the same stable problem type as
/v1 (as a coding under https://pml.akson.no/problems/), so a client can tell errors apart the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fhir.resources.R4B.operationoutcome import OperationOutcome
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.problems import PROBLEM_BASE
from pml.errors import DomainError

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"

# HTTP status → OperationOutcome issue type (http://hl7.org/fhir/issue-type).
_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "business-rule",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    428: "required",
    429: "throttled",
    503: "transient",
}
_HTTP_TITLES = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized", 403: "forbidden"}


def operation_outcome(
    status: int, slug: str, title: str, diagnostics: str, *, expression: list[str] | None = None
) -> OperationOutcome:
    issue: dict[str, Any] = {
        "severity": "error" if status < 500 else "fatal",
        "code": _ISSUE_CODES.get(status, "exception"),
        "details": {"coding": [{"system": PROBLEM_BASE.rstrip("/"), "code": slug}], "text": title},
        "diagnostics": diagnostics,
    }
    if expression:
        issue["expression"] = expression
    return OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": [issue]})


def outcome_response(
    status: int,
    slug: str,
    title: str,
    diagnostics: str,
    *,
    headers: dict[str, str] | None = None,
    expression: list[str] | None = None,
) -> Response:
    outcome = operation_outcome(status, slug, title, diagnostics, expression=expression)
    return Response(outcome.model_dump_json(), status_code=status, media_type=FHIR_JSON, headers=headers)


def _domain_error(error: DomainError) -> Response:
    headers = None
    if error.status == 429:
        headers = {"Retry-After": str(error.extensions.get("retry_after", 1))}
    elif error.status == 401:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    expression = [_location(e) for e in error.extensions.get("errors", [])] or None
    return outcome_response(
        error.status, error.problem_type, error.title, error.detail, headers=headers, expression=expression
    )


def _location(error: dict[str, Any]) -> str:
    return ".".join(str(part) for part in error.get("loc", ())) or "body"


def _validation_error(error: RequestValidationError) -> Response:
    errors = error.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid"}
    where = _location(first)
    return outcome_response(
        400,
        "validation-error",
        "The request is not valid",
        f"{where}: {first.get('msg', 'invalid')}",
        expression=[_location(e) for e in errors],
    )


def _http_error(error: StarletteHTTPException) -> Response:
    slug = _HTTP_TITLES.get(error.status_code, "http-error")
    detail = error.detail if isinstance(error.detail, str) else slug
    return outcome_response(
        error.status_code,
        slug,
        slug.replace("-", " ").capitalize(),
        detail,
        headers=dict(error.headers) if error.headers else None,
    )


def _unexpected(request: Request) -> Response:
    request_id = getattr(request.state, "request_id", None)
    log.exception("unhandled error in the FHIR facade", extra={"request_id": request_id})
    return outcome_response(
        500,
        "internal-error",
        "Internal error",
        f"the service failed to handle this request; nothing was changed. Request id: {request_id}",
    )


def render_error(request: Request, error: Exception) -> Response:
    if isinstance(error, DomainError):
        return _domain_error(error)
    if isinstance(error, RequestValidationError):
        return _validation_error(error)
    if isinstance(error, StarletteHTTPException):
        return _http_error(error)
    return _unexpected(request)


class FhirRoute(APIRoute):
    """An APIRoute whose errors, from dependencies or the handler, become OperationOutcome responses."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            if not _json_requested(request):
                return outcome_response(
                    406, "not-acceptable", "Not acceptable", "this server speaks FHIR JSON only"
                )
            try:
                return await handler(request)
            except Exception as error:  # noqa: BLE001 - every error under /fhir is an OperationOutcome
                return render_error(request, error)

        return handle


def _json_requested(request: Request) -> bool:
    """False when the caller asks for XML or Turtle only (`_format`, or an Accept without any JSON or */*)."""
    wanted = request.query_params.get("_format") or request.headers.get("accept") or "json"
    return any(kind in wanted.lower() for kind in ("json", "*/*", "application/*"))


def fhir_json(resource: Any) -> bytes:
    """JSON of a fhir.resources model (or a plain dict)."""
    if isinstance(resource, dict):
        return orjson.dumps(resource)
    text: str = resource.model_dump_json()
    return text.encode()
