"""RFC 9457 problem+json: every error leaves the service in this shape, with a stable `type` URI.

No stack trace, SQL or internal name ever reaches a response; unexpected errors are logged with the request id
and answered with a generic 500 problem.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from pml.errors import DomainError

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://pml.akson.no/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

_HTTP_SLUGS = {
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("body-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail} | extensions
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers
    )


def _validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Only location, message and kind: pydantic's raw errors can carry the input and Python objects."""
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors
    ]


async def _domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, DomainError)
    extensions = dict(error.extensions)
    if "errors" in extensions:
        extensions["errors"] = _validation_errors(extensions["errors"])
    headers = None
    if error.status == 429:
        headers = {"Retry-After": str(extensions.get("retry_after", 1))}
    elif error.status == 401:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return problem_response(
        error.status, error.problem_type, error.title, error.detail, headers=headers, **extensions
    )


async def _request_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = _validation_errors(error.errors())
    first: dict[str, Any] = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(str(part) for part in first["loc"])
    return problem_response(
        422,
        "validation-error",
        "The request is not valid",
        f"{where}: {first['msg']}" if where else first["msg"],
        errors=errors,
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    slug, title = _HTTP_SLUGS.get(error.status_code, ("http-error", "Request failed"))
    detail = error.detail if isinstance(error.detail, str) else title
    return problem_response(error.status_code, slug, title, detail, headers=error.headers)


async def _unexpected_error(request: Request, error: Exception) -> Response:
    request_id = getattr(request.state, "request_id", None)
    log.exception("unhandled error", extra={"request_id": request_id})
    return problem_response(
        500,
        "internal-error",
        "Internal error",
        "the service failed to handle this request; nothing was changed. Quote the request id to support.",
        request_id=request_id,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
