"""FHIR update of a MedicationStatement, as one transaction under the patient's list lock.

Concurrency is FHIR's, per resource: If-Match names the MedicationStatement's versionId (the list version at
which the entry last changed), and the update is refused with 412 when the entry has changed since. A change
to another entry of the same list does not make it stale; /v1, which writes against the whole list, keeps the
stricter list-wide If-Match. If-Match is required, as on every PML write (428 without it).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fhir.resources.R4B.medicationstatement import MedicationStatement
from pydantic import ValidationError
from starlette.responses import Response

from api.access import PatientAccess
from api.fhir.bundles import base_url, resource_response
from api.fhir.history import change_at
from api.fhir.ids import BadFhirRequest, ResourceNotFound, StatementId
from api.fhir.statements import medication_statement, stated_entry
from api.fhir.updates import StatementUpdate, plan_update
from api.v1.conditional import PreconditionRequired, list_service, parse_if_match
from pml.db.engine import Database
from pml.errors import DomainError, InvalidInput
from pml.medication_list.schemas import Entry, Source
from pml.medication_list.service import MedicationListService
from pml.settings import Settings


class StatementVersionConflict(DomainError):
    problem_type = "version-conflict"
    title = "The MedicationStatement has changed since you read it"
    status = 412


class UnsupportedMediaType(DomainError):
    problem_type = "unsupported-media-type"
    title = "Unsupported media type"
    status = 415


def _if_match(request: Request) -> int:
    header = request.headers.get("if-match")
    if header is None:
        raise PreconditionRequired(
            'an update must carry If-Match with the MedicationStatement version it is based on, e.g. W/"7"'
        )
    return parse_if_match(header)


async def _incoming(request: Request, ids: StatementId) -> MedicationStatement:
    if "json" not in request.headers.get("content-type", "").lower():
        raise UnsupportedMediaType("send the resource as application/fhir+json")
    try:
        body: Any = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadFhirRequest("the body is not JSON") from None
    if not isinstance(body, dict) or body.get("resourceType") != "MedicationStatement":
        raise BadFhirRequest("the body must be a MedicationStatement resource")
    if body.get("id") != str(ids):
        raise BadFhirRequest(f"the resource's id must be {ids}, as in the URL")
    try:
        return MedicationStatement.model_validate(body)
    except ValidationError as error:
        raise InvalidInput(
            "the MedicationStatement is not valid FHIR",
            errors=error.errors(include_url=False, include_input=False),
        ) from None


def _change_source(access: PatientAccess, stated: Source | None) -> Source:
    source = access.principal.source or stated
    if source is None:
        raise InvalidInput("say which source this change comes from: the token names none, nor the resource")
    return source


async def _apply(
    service: MedicationListService,
    access: PatientAccess,
    ids: StatementId,
    update: StatementUpdate,
    source: Source,
    version: int,
) -> Entry | None:
    actor, entry = access.principal.actor, None
    if update.change is not None:
        result = await service.change_entry(
            ids.patient_id, version, ids.entry_id, update.change, actor, source
        )
        entry, version = result.entry, version + 1
    if update.status_action is not None:
        result = await service.change_status(
            ids.patient_id,
            version,
            ids.entry_id,
            update.status_action,
            reason=update.status_reason,
            source=source,
            actor=actor,
        )
        entry = result.entry
    return entry


async def update_statement(
    request: Request, access: PatientAccess, ids: StatementId, *, database: Database, settings: Settings
) -> Response:
    expected = _if_match(request)
    incoming = await _incoming(request, ids)
    stated = stated_entry(incoming)
    async with database.write_transaction() as session:
        service = list_service(session, settings)
        header = await service.lock(ids.patient_id)
        current = next(
            (e for e in (await service.current(ids.patient_id)).entries if e.id == ids.entry_id), None
        )
        if current is None:
            raise ResourceNotFound(f"MedicationStatement/{ids} does not exist (FHIR update does not create)")
        if current.updated_version != expected:
            raise StatementVersionConflict(
                f"you updated version {expected}; MedicationStatement/{ids} is now at version "
                f"{current.updated_version}",
                current_version=current.updated_version,
            )
        update = plan_update(current, stated, incoming)
        changed = (
            None
            if update.empty
            else await _apply(
                service, access, ids, update, _change_source(access, stated.source), header.version
            )
        )
        entry = changed or current
        recorded_at = (await change_at(service, ids.patient_id, entry.updated_version)).recorded_at
    resource = medication_statement(ids.patient_id, entry, last_updated=recorded_at)
    location = f"{base_url(request)}/MedicationStatement/{ids}/_history/{entry.updated_version}"
    return resource_response(
        resource, version=entry.updated_version, last_modified=recorded_at, location=location
    )
