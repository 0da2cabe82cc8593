"""Conditional requests and idempotent writes: If-Match, If-None-Match, ETag and Idempotency-Key.

A write runs in one transaction that first takes the patient's lock, then looks for an earlier response to the
same Idempotency-Key (so a retry whose If-Match is now stale still gets its first answer), then checks
If-Match, applies the change and stores the response, and commits before the response is sent.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from starlette.responses import Response

from pml.db.engine import Database
from pml.errors import DomainError, InvalidInput
from pml.idempotency.repository import IdempotencyRepository, StoredResponse, request_fingerprint
from pml.medication_list.repository import MedicationListRepository
from pml.medication_list.service import ListLimits, MedicationListService
from pml.settings import Settings

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{8,200}$")
JSON = "application/json"


class PreconditionRequired(DomainError):
    problem_type = "precondition-required"
    title = "If-Match is required"
    status = 428


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int:
    if value is None:
        raise PreconditionRequired(
            "every write must carry If-Match with the list version it is based on (the ETag of your read)"
        )
    match = _ETAG.match(value)
    if match is None:
        raise PreconditionRequired("If-Match must be one list version, such as \"7\"")
    return int(match.group(1))


def not_modified(request: Request, version: int) -> bool:
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = {tag.strip() for tag in header.split(",")}
    return "*" in tags or etag(version) in tags or f"W/{etag(version)}" in tags


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise InvalidInput("Idempotency-Key must be 8 to 200 visible ASCII characters (a UUID is ideal)")
    return key


def json_response(model: BaseModel, *, status_code: int = 200, version: int | None = None) -> Response:
    headers = {"ETag": etag(version)} if version is not None else None
    return Response(model.model_dump_json(), status_code=status_code, media_type=JSON, headers=headers)


def list_service(session: Any, settings: Settings) -> MedicationListService:
    limits = ListLimits(max_entries=settings.max_list_entries, max_page_size=settings.max_page_size)
    return MedicationListService(MedicationListRepository(session), limits)


WriteOperation = Callable[[MedicationListService, int], Awaitable[Response]]


async def idempotent_write(
    request: Request,
    *,
    database: Database,
    settings: Settings,
    patient_id: str,
    payload: BaseModel | None,
    operation: WriteOperation,
) -> Response:
    """Run `operation(service, expected_version)` as one idempotent, version-checked transaction."""
    expected_version = parse_if_match(request.headers.get("if-match"))
    key = idempotency_key(request)
    body = payload.model_dump(mode="json") if payload is not None else None
    fingerprint = request_fingerprint(request.method, request.url.path, body)
    async with database.write_transaction() as session:
        service = list_service(session, settings)
        looked_up = await service.lock_for_write(patient_id, key)
        idempotency = IdempotencyRepository(session)
        if key is not None and (
            stored := await idempotency.replay(patient_id, key, fingerprint, looked_up=looked_up)
        ):
            return _replayed(stored)
        response = await operation(service, expected_version)
        if key is not None:
            await idempotency.save(patient_id, key, fingerprint, _storable(response))
    return response


def _storable(response: Response) -> StoredResponse:
    headers = {name: value for name, value in response.headers.items() if name in ("etag", "location")}
    return StoredResponse(response.status_code, headers, bytes(response.body))


def _replayed(stored: StoredResponse) -> Response:
    headers = stored.headers | {"Idempotent-Replayed": "true"}
    return Response(stored.body, status_code=stored.status_code, media_type=JSON, headers=headers)
