"""/fhir/R4: the medication list as FHIR resources. Thin: parse, open the patient (authorize and audit), call
the list service, map to FHIR.

These routes are described by the CapabilityStatement at /fhir/R4/metadata rather than by /v1's OpenAPI
document, since their errors are OperationOutcomes, not problem+json.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from api.authz import Permission
from api.deps import CurrentPrincipal, DatabaseDep, SettingsDep
from api.fhir import history as fhir_history
from api.fhir.access import open_patient
from api.fhir.bundles import resource_response, searchset
from api.fhir.capability import capability_statement
from api.fhir.ids import BadFhirRequest, parse_provenance_id, parse_statement_id, parse_version_id
from api.fhir.lists import medication_list_resource
from api.fhir.outcomes import FhirRoute, outcome_response
from api.fhir.provenance import provenance_resource
from api.fhir.statements import STATUS_FROM_FHIR, medication_statement
from api.fhir.writes import update_statement
from api.v1.conditional import list_service, not_modified

router = APIRouter(prefix="/fhir/R4", route_class=FhirRoute, include_in_schema=False)

Count = Annotated[int, Query(alias="_count", ge=1, le=100)]
Before = Annotated[int | None, Query(alias="before", ge=1, description="page: versions below this one")]


@router.get("/metadata")
async def fhir_capabilities(request: Request) -> Response:
    """What this FHIR server does (public, as FHIR expects: it holds no patient data)."""
    return resource_response(capability_statement(request))


# -- List ----------------------------------------------------------------------------------------------------


@router.get("/List/{patient_id}")
async def fhir_read_list(
    patient_id: str,
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    access = await open_patient(request, principal, settings, Permission.READ_LIST, patient_id)
    async with database.read_transaction() as session:
        current = await list_service(session, settings).current(access.patient_id)
    if not_modified(request, current.version):
        return Response(status_code=304, headers={"ETag": f'W/"{current.version}"'})
    resource = medication_list_resource(current)
    return resource_response(resource, version=current.version, last_modified=current.updated_at)


@router.get("/List/{patient_id}/_history/{version_id}")
async def fhir_vread_list(
    patient_id: str,
    version_id: str,
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    access = await open_patient(request, principal, settings, Permission.READ_LIST, patient_id)
    version = parse_version_id(version_id)
    async with database.read_transaction() as session:
        past = await list_service(session, settings).at_version(access.patient_id, version)
    return resource_response(medication_list_resource(past), version=version, last_modified=past.updated_at)


@router.get("/List/{patient_id}/_history")
async def fhir_list_history(
    patient_id: str,
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
    count: Count = 20,
    before: Before = None,
) -> Response:
    access = await open_patient(request, principal, settings, Permission.READ_LIST, patient_id)
    async with database.read_transaction() as session:
        bundle = await fhir_history.list_history(
            request, list_service(session, settings), access.patient_id, count=count, before=before
        )
    return resource_response(bundle)


@router.get("/List")
async def fhir_search_list(
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
    patient: Annotated[str, Query(description="the patient's national id, or Patient/<national id>")],
    include: Annotated[str | None, Query(alias="_include")] = None,
) -> Response:
    """The patient's one working list; with `_include=List:item`, its MedicationStatements too."""
    if include not in (None, "List:item"):
        raise BadFhirRequest("only _include=List:item is supported")
    access = await open_patient(
        request, principal, settings, Permission.READ_LIST, _patient(patient)
    )
    async with database.read_transaction() as session:
        current = await list_service(session, settings).current(access.patient_id)
    included = [medication_statement(current.patient_id, e) for e in current.entries] if include else None
    return resource_response(
        searchset(request, [medication_list_resource(current)], included=included, total=1)
    )


# -- MedicationStatement -------------------------------------------------------------------------------------


@router.get("/MedicationStatement/{statement_id}")
async def fhir_read_medication_statement(
    statement_id: str,
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    ids = parse_statement_id(statement_id)
    await open_patient(request, principal, settings, Permission.READ_LIST, ids.patient_id)
    async with database.read_transaction() as session:
        entry, modified = await fhir_history.current_entry(list_service(session, settings), ids)
    if not_modified(request, entry.updated_version):
        return Response(status_code=304, headers={"ETag": f'W/"{entry.updated_version}"'})
    resource = medication_statement(ids.patient_id, entry, last_updated=modified)
    return resource_response(resource, version=entry.updated_version, last_modified=modified)


@router.get("/MedicationStatement/{statement_id}/_history/{version_id}")
async def fhir_vread_medication_statement(
    statement_id: str,
    version_id: str,
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    ids = parse_statement_id(statement_id)
    await open_patient(request, principal, settings, Permission.READ_LIST, ids.patient_id)
    version = parse_version_id(version_id)
    async with database.read_transaction() as session:
        change = await fhir_history.statement_change(list_service(session, settings), ids, version)
    assert change.after is not None
    resource = medication_statement(ids.patient_id, change.after, last_updated=change.recorded_at)
    return resource_response(resource, version=version, last_modified=change.recorded_at)


@router.get("/MedicationStatement/{statement_id}/_history")
async def fhir_medication_statement_history(
    statement_id: str,
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
    count: Count = 20,
    before: Before = None,
) -> Response:
    ids = parse_statement_id(statement_id)
    await open_patient(request, principal, settings, Permission.READ_LIST, ids.patient_id)
    async with database.read_transaction() as session:
        bundle = await fhir_history.statement_history(
            request, list_service(session, settings), ids, count=count, before=before
        )
    return resource_response(bundle)


@router.put("/MedicationStatement/{statement_id}")
async def fhir_update_medication_statement(
    statement_id: str,
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    """Conditional update: If-Match names the MedicationStatement version the change is based on."""
    ids = parse_statement_id(statement_id)
    access = await open_patient(request, principal, settings, Permission.WRITE_LIST, ids.patient_id)
    return await update_statement(request, access, ids, database=database, settings=settings)


@router.get("/MedicationStatement")
async def fhir_search_medication_statements(
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
    patient: Annotated[str, Query(description="the patient's national id, or Patient/<national id>")],
    status: Annotated[str | None, Query(description="active, on-hold or stopped (comma-separated)")] = None,
) -> Response:
    wanted = _statuses(status)
    access = await open_patient(
        request, principal, settings, Permission.READ_LIST, _patient(patient)
    )
    async with database.read_transaction() as session:
        current = await list_service(session, settings).current(access.patient_id)
    resources = [medication_statement(current.patient_id, entry) for entry in current.entries]
    matching = [resource for resource in resources if wanted is None or resource.status in wanted]
    return resource_response(searchset(request, matching, total=len(matching)))


# -- Provenance ----------------------------------------------------------------------------------------------


@router.get("/Provenance/{provenance_id}")
async def fhir_read_provenance(
    provenance_id: str,
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    ids = parse_provenance_id(provenance_id)
    await open_patient(request, principal, settings, Permission.READ_LIST, ids.patient_id)
    async with database.read_transaction() as session:
        change = await fhir_history.change_at(list_service(session, settings), ids.patient_id, ids.version)
    resource = provenance_resource(ids.patient_id, change)
    return resource_response(resource, version=1, last_modified=change.recorded_at)


@router.get("/Provenance")
async def fhir_search_provenance(
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
    patient: Annotated[str | None, Query()] = None,
    target: Annotated[str | None, Query(description="List/<id> or MedicationStatement/<id>")] = None,
    count: Count = 20,
    before: Before = None,
) -> Response:
    """Provenance of a patient's changes, newest first: by `patient`, or by `target` (a List or one entry)."""
    search = fhir_history.ProvenanceSearch.parse(patient=patient, target=target)
    await open_patient(request, principal, settings, Permission.READ_LIST, search.patient_id)
    async with database.read_transaction() as session:
        bundle = await fhir_history.provenance_search(
            request, list_service(session, settings), search, count=count, before=before
        )
    return resource_response(bundle)


# -- everything else under /fhir/R4 --------------------------------------------------------------------------


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
async def fhir_unknown(path: str, request: Request) -> Response:
    """Unknown resource types and interactions get an OperationOutcome too (404, or 405 for a known path)."""
    if _known_path_other_method(request):
        return outcome_response(
            405,
            "method-not-allowed",
            "Method not allowed",
            f"{request.method} is not supported on /fhir/R4/{path[:100]}",
        )
    return outcome_response(
        404,
        "not-found",
        "Not found",
        f"/fhir/R4/{path[:100]} is not a resource or interaction this server supports; see /fhir/R4/metadata",
    )


def _known_path_other_method(request: Request) -> bool:
    from starlette.routing import Match

    for route in router.routes:
        if getattr(route, "name", None) == "fhir_unknown":
            continue
        match, _ = route.matches({**request.scope, "method": "GET", "path": request.url.path})
        if match is Match.FULL:
            return True
    return False


def _patient(value: str) -> str:
    return value.removeprefix("Patient/")


def _statuses(value: str | None) -> set[str] | None:
    if value is None:
        return None
    wanted = {code.strip() for code in value.split(",") if code.strip()}
    unknown = wanted - set(STATUS_FROM_FHIR)
    if unknown:
        raise BadFhirRequest(f"status must be one of {', '.join(STATUS_FROM_FHIR)}")
    return wanted
