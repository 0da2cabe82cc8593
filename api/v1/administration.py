"""/v1/patients/{patient_id}/administrations: record what was given, read it back by day.

Thin: parse, authorize, call `pml.administration`, render. A record is idempotent under its
`Idempotency-Key` (the mobile client's offline queue replays with the same key): the stored first response is
looked up under the patient's administration lock, in the same transaction that stores the record, so a replay
racing its original either waits for it or sees it; a different body under a used key is 422.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from api.access import PatientAccess, patient_access
from api.authz import Permission
from api.deps import DatabaseDep, SettingsDep
from api.problems import PROBLEM_CONTENT_TYPE
from api.v1.conditional import JSON, idempotency_key, list_service
from api.v1.doses import LocalDay, dosing_service
from pml.administration.repository import AdministrationRepository
from pml.administration.schemas import (
    AdministrationChain,
    AdministrationDay,
    AdministrationRecord,
    NewAdministration,
)
from pml.administration.service import AdministrationService
from pml.dosing.clock import DoseClock
from pml.idempotency.repository import IdempotencyRepository, StoredResponse, request_fingerprint
from pml.settings import Settings

router = APIRouter(prefix="/patients/{patient_id}/administrations", tags=["home care"])

RecordAccess = Annotated[PatientAccess, Depends(patient_access(Permission.RECORD_ADMINISTRATION))]
ReadAccess = Annotated[PatientAccess, Depends(patient_access(Permission.READ_ADMINISTRATION))]


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {}}}


RECORD_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _problem("the entry (or the corrected record) is not this patient's"),
    409: _problem("the corrected record was already corrected: correct the correction"),
    422: _problem("invalid body, unknown list version, a time in the future, or Idempotency-Key reuse"),
}


def administration_service(session: Any, settings: Settings) -> AdministrationService:
    return AdministrationService(
        AdministrationRepository(session),
        list_service(session, settings),
        dosing_service(session, settings),
        DoseClock.from_settings(settings),
    )


@router.post("", status_code=201, response_model=AdministrationRecord, responses=RECORD_RESPONSES)
async def record_administration(
    new: NewAdministration, request: Request, access: RecordAccess, database: DatabaseDep,
    settings: SettingsDep,
) -> Response:  # fmt: skip
    """Record given / partly given / not given (with a reason) for one dose, or correct an earlier record.

    Always stored when it can be true; when the entry was changed, paused or stopped after `list_version`, or
    the dose is not on the plan, or as-needed doses pass the daily maximum, the record says
    `flagged_for_review: true` with its `review_reasons`.
    """
    patient_id = access.patient_id
    key = idempotency_key(request)
    fingerprint = request_fingerprint(request.method, request.url.path, new.model_dump(mode="json"))
    async with database.write_transaction() as session:
        service = administration_service(session, settings)
        await service.lock(patient_id)
        idempotency = IdempotencyRepository(session)
        if key is not None and (stored := await idempotency.replay(patient_id, key, fingerprint)):
            return _replayed(stored)
        record = await service.record(patient_id, new, access.principal.actor)
        response = _created(record, request)
        if key is not None:
            await idempotency.save(patient_id, key, fingerprint, _storable(response))
    return response


@router.get("", response_model=AdministrationDay)
async def read_administrations(
    access: ReadAccess, database: DatabaseDep, settings: SettingsDep, date: LocalDay = None,
) -> AdministrationDay:  # fmt: skip
    """The day's records as correction chains, each with its effective record, in dose-time order."""
    day = date or DoseClock.from_settings(settings).today()
    async with database.read_transaction() as session:
        return await administration_service(session, settings).day(access.patient_id, day)


@router.get("/{record_id}", response_model=AdministrationChain, responses={404: _problem("no such record")})
async def read_administration(
    record_id: uuid.UUID, access: ReadAccess, database: DatabaseDep, settings: SettingsDep
) -> AdministrationChain:
    """One record with the whole chain of corrections it belongs to."""
    async with database.read_transaction() as session:
        return await administration_service(session, settings).chain(access.patient_id, record_id)


def _created(record: AdministrationRecord, request: Request) -> Response:
    headers = {"Location": f"{request.url.path}/{record.record_id}"}
    return Response(record.model_dump_json(), status_code=201, media_type=JSON, headers=headers)


def _storable(response: Response) -> StoredResponse:
    headers = {name: value for name, value in response.headers.items() if name == "location"}
    return StoredResponse(response.status_code, headers, bytes(response.body))


def _replayed(stored: StoredResponse) -> Response:
    headers = stored.headers | {"Idempotent-Replayed": "true"}
    return Response(stored.body, status_code=stored.status_code, media_type=JSON, headers=headers)
