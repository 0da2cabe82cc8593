"""/v1/patients/{patient_id}/medication-list: read, write, history, as-of and delta sync.

Thin: parse, authorize, call the service, render.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from api.access import (
    PatientAccess,
    PrefetchedList,
    ReadListAccess,
    ReviewListAccess,
    WriteListAccess,
    patient_access,
)
from api.auth import Principal
from api.authz import Permission
from api.deps import DatabaseDep, SettingsDep
from api.problems import PROBLEM_CONTENT_TYPE
from api.v1.conditional import etag, idempotent_write, json_response, list_service, not_modified
from pml.cache.patient_cache import CachedPatient, PatientCache
from pml.db.engine import Database
from pml.errors import InvalidInput
from pml.medication_list.schemas import (
    ChangeAction,
    ChangePage,
    ChangesSince,
    Entry,
    EntryChange,
    MedicationList,
    NewEntry,
    ReviewRequest,
    Source,
    StatusChange,
    StopEntry,
)
from pml.medication_list.service import MedicationListService, WriteResult, current_list
from pml.metrics import LIST_CACHE

# Resolved once: `labels()` looks the child up in a locked dict on every call.
LIST_CACHE_HIT, LIST_CACHE_MISS = LIST_CACHE.labels("hit"), LIST_CACHE.labels("miss")
LIST_CACHE_NOT_MODIFIED = LIST_CACHE.labels("not_modified")

# List versions are PostgreSQL integers; a larger number is refused as invalid rather than overflowing in SQL.
MAX_VERSION = 2**31 - 1

router = APIRouter(prefix="/patients/{patient_id}/medication-list", tags=["medication list"])


class WriteOutcome(BaseModel):
    """The entry the write touched (none for a review) and the whole list after it."""

    entry: Entry | None
    medication_list: MedicationList


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {}}}


WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    412: _problem("If-Match is stale: the body carries current_version and current_list"),
    422: _problem("invalid body, national id or Idempotency-Key reuse"),
    428: _problem("If-Match missing"),
}
IF_MATCH_DOC = "The list version the write is based on (the ETag of your last read), e.g. \"7\"."


def _render_write(result: WriteResult, status_code: int = 200) -> Response:
    outcome = WriteOutcome(entry=result.entry, medication_list=result.medication_list)
    return json_response(outcome, status_code=status_code, version=result.medication_list.version)


def _source(requested: Source | None, principal: Principal) -> Source:
    source = requested or principal.source
    if source is None:
        raise InvalidInput("say which source this change comes from ('source'): the token names none")
    return source


@router.get("", response_model=MedicationList, responses={304: {"description": "unchanged since the ETag"}})
async def read_list(request: Request, access: ReadListAccess) -> Response:
    """The current list. Send `If-None-Match` with the last ETag to get 304 when nothing changed."""
    patient_id = access.patient_id
    cached: CachedPatient = request.state.cached_patient
    if cached.list_version is not None and not_modified(request, cached.list_version):
        LIST_CACHE_NOT_MODIFIED.inc()
        return _not_modified(cached.list_version)
    if cached.list_body is not None and cached.list_version is not None:
        LIST_CACHE_HIT.inc()
        return _list_bytes(cached.list_body, cached.list_version)
    LIST_CACHE_MISS.inc()
    cache: PatientCache = request.app.state.patient_cache
    prefetched: PrefetchedList | None = getattr(request.state, "prefetched_list", None)
    if prefetched is not None:  # read with the blocks by the access check, in the same statement
        current = prefetched.medication_list
        body = current.model_dump_json().encode()
        await cache.remember_list_and_blocks(
            patient_id, current.version, body, prefetched.blocks_generation, prefetched.blocks
        )
    else:
        # The database comes from the app's state here rather than as a dependency: most reads are
        # answered above from the cache, and every dependency costs FastAPI work on each of them.
        database: Database = request.app.state.database
        async with database.read_statement() as connection:
            current = await current_list(connection, patient_id)
        body = current.model_dump_json().encode()
        await cache.remember_list(patient_id, current.version, body)
    if not_modified(request, current.version):
        return _not_modified(current.version)
    return _list_bytes(body, current.version)


_READ_LIST_ACCESS = patient_access(Permission.READ_LIST, prefetch_list=True)


async def read_list_direct(request: Request) -> Response:
    """`read_list` as a plain Starlette endpoint. Reading a list is most of PML's traffic, and FastAPI's
    per-route machinery (dependency solving, its response wrappers) cost about a quarter of a cached read's
    CPU. The same access function and handler run; errors reach the same problem+json handlers."""
    return await read_list(request, await _READ_LIST_ACCESS(request))


class DirectRoute(Route):
    """A Starlette route that puts itself in the scope as FastAPI's routes do: the audit record's action and
    the metrics' route template are read from there."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


# Registered ahead of the /v1 router (api.app), so they answer their requests; the FastAPI routes at the same
# paths stay for the OpenAPI document. The name is the FastAPI route's, so audit records and metrics agree.
LIST_PATH = "/v1/patients/{patient_id}/medication-list"
DIRECT_ROUTES = [DirectRoute(LIST_PATH, read_list_direct, methods=["GET"], name="read_list")]


def _not_modified(version: int) -> Response:
    return Response(status_code=304, headers={"ETag": etag(version)})


def _list_bytes(body: bytes, version: int) -> Response:
    """The cached or fresh serialized list, sent as is: a cache hit does no validation or serialisation."""
    return Response(body, media_type="application/json", headers={"ETag": etag(version)})


@router.get("/versions/{version}", response_model=MedicationList)
async def read_list_at_version(
    version: Annotated[int, Path(ge=0, le=MAX_VERSION)], access: ReadListAccess, database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    """The list exactly as it was at `version`, rebuilt from the change history."""
    patient_id = access.patient_id
    async with database.read_transaction() as session:
        past = await list_service(session, settings).at_version(patient_id, version)
    return json_response(past, version=past.version)


@router.get("/as-of", response_model=MedicationList)
async def read_list_as_of(
    at: Annotated[dt.datetime, Query(description="a time with zone, e.g. 2026-11-25T12:00:00+01:00")],
    access: ReadListAccess, database: DatabaseDep, settings: SettingsDep,
) -> Response:
    """The list as it stood at a moment in time."""
    patient_id = access.patient_id
    async with database.read_transaction() as session:
        past = await list_service(session, settings).as_of(patient_id, at)
    return json_response(past, version=past.version)


@router.get("/history", response_model=ChangePage)
async def read_history(
    request: Request, access: ReadListAccess, database: DatabaseDep, settings: SettingsDep,
    before_version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> Response:
    """Change records, newest first. Page with `before_version=next_before_version`."""
    patient_id = access.patient_id
    async with database.read_transaction() as session:
        page = await list_service(session, settings).history(
            patient_id, before_version=before_version, limit=limit
        )
    # This reveals the current version: the cache's pointer must not be behind it when the caller reads next.
    await request.app.state.patient_cache.advance_list(patient_id, page.current_version)
    return json_response(page, version=page.current_version)


@router.get("/changes", response_model=ChangesSince)
async def read_changes_since(
    since: Annotated[int, Query(ge=0, le=MAX_VERSION, description="the last version the client holds")],
    request: Request, access: ReadListAccess, database: DatabaseDep, settings: SettingsDep,
    limit: Annotated[int, Query(ge=1)] = 200,
) -> Response:
    """Delta sync: the changes after version `since`, oldest first."""
    patient_id = access.patient_id
    async with database.read_transaction() as session:
        delta = await list_service(session, settings).changes_since(patient_id, since, limit=limit)
    await request.app.state.patient_cache.advance_list(patient_id, delta.current_version)
    return json_response(delta, version=delta.current_version)


@router.post("/entries", status_code=201, response_model=WriteOutcome, responses=WRITE_RESPONSES,
             openapi_extra={"parameters": [{"name": "If-Match", "in": "header", "required": True,
                                            "description": IF_MATCH_DOC, "schema": {"type": "string"}}]})
async def add_entry(
    new: NewEntry, request: Request, access: WriteListAccess, database: DatabaseDep, settings: SettingsDep,
) -> Response:
    """Add a medicine to the list."""
    patient_id, principal = access.patient_id, access.principal

    async def operation(service: MedicationListService, expected: int) -> Response:
        result = await service.add_entry(patient_id, expected, new, principal.actor)
        response = _render_write(result, status_code=201)
        assert result.entry is not None
        response.headers["Location"] = f"{request.url.path}/{result.entry.id}"
        return response

    return await idempotent_write(
        request, database=database, settings=settings, patient_id=patient_id, payload=new, operation=operation
    )


@router.patch("/entries/{entry_id}", response_model=WriteOutcome, responses=WRITE_RESPONSES)
async def change_entry(
    entry_id: uuid.UUID, change: EntryChange, request: Request, access: WriteListAccess,
    database: DatabaseDep, settings: SettingsDep,
) -> Response:
    """Change fields of an entry; omitted fields keep their value."""
    patient_id, principal = access.patient_id, access.principal
    source = _source(change.source, principal)

    async def operation(service: MedicationListService, expected: int) -> Response:
        result = await service.change_entry(patient_id, expected, entry_id, change, principal.actor, source)
        return _render_write(result)

    return await idempotent_write(
        request, database=database, settings=settings, patient_id=patient_id, payload=change,
        operation=operation,
    )


async def _status_write(
    action: ChangeAction, body: StatusChange, entry_id: uuid.UUID, request: Request, access: PatientAccess,
    database: DatabaseDep, settings: SettingsDep,
) -> Response:
    patient_id, principal = access.patient_id, access.principal
    source = _source(body.source, principal)

    async def operation(service: MedicationListService, expected: int) -> Response:
        result = await service.change_status(
            patient_id, expected, entry_id, action, reason=body.reason, source=source, actor=principal.actor
        )
        return _render_write(result)

    return await idempotent_write(
        request, database=database, settings=settings, patient_id=patient_id, payload=body,
        operation=operation,
    )


@router.post("/entries/{entry_id}/stop", response_model=WriteOutcome, responses=WRITE_RESPONSES)
async def stop_entry(
    entry_id: uuid.UUID, body: StopEntry, request: Request, access: WriteListAccess,
    database: DatabaseDep, settings: SettingsDep,
) -> Response:
    """Stop a medicine (seponering); the reason is required."""
    return await _status_write(
        ChangeAction.STOP, body, entry_id, request, access, database, settings
    )


@router.post("/entries/{entry_id}/pause", response_model=WriteOutcome, responses=WRITE_RESPONSES)
async def pause_entry(
    entry_id: uuid.UUID, body: StatusChange, request: Request, access: WriteListAccess,
    database: DatabaseDep, settings: SettingsDep,
) -> Response:
    """Pause an active medicine."""
    return await _status_write(
        ChangeAction.PAUSE, body, entry_id, request, access, database, settings
    )


@router.post("/entries/{entry_id}/resume", response_model=WriteOutcome, responses=WRITE_RESPONSES)
async def resume_entry(
    entry_id: uuid.UUID, body: StatusChange, request: Request, access: WriteListAccess,
    database: DatabaseDep, settings: SettingsDep,
) -> Response:
    """Resume a paused medicine."""
    return await _status_write(
        ChangeAction.RESUME, body, entry_id, request, access, database, settings
    )


@router.post("/review", response_model=WriteOutcome, responses=WRITE_RESPONSES)
async def mark_reviewed(
    body: ReviewRequest, request: Request, access: ReviewListAccess, database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    """Mark the list as reviewed (ajourført) by the caller at this version."""
    patient_id, principal = access.patient_id, access.principal
    source = _source(body.source, principal)

    async def operation(service: MedicationListService, expected: int) -> Response:
        result = await service.mark_reviewed(
            patient_id, expected, principal.actor, source=source, note=body.note
        )
        return _render_write(result)

    return await idempotent_write(
        request, database=database, settings=settings, patient_id=patient_id, payload=body,
        operation=operation,
    )
