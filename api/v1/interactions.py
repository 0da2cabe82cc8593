"""/v1/interactions/check and /v1/patients/{patient_id}/interactions: interaction checks.

Thin: parse, authorize, call `pml.catalogue.checking`, render. Every result names the catalogue release it
used; with no active release the answer is a 503 problem (catalogue-unavailable), never an empty "no
interactions".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.access import PatientAccess, ReadListAccess
from api.authz import Permission, authorize
from api.deps import CurrentPrincipal, DatabaseDep, SettingsDep
from api.v1.catalogue import UNAVAILABLE, ActiveCatalogueDep
from api.v1.conditional import list_service
from pml.catalogue import checking
from pml.catalogue.compiled import ActiveCatalogue
from pml.catalogue.schemas import (
    CheckRequest,
    CheckResultOut,
    PatientCheckRequest,
    PatientCheckResultOut,
    Visningsregel,
)
from pml.db.engine import Database
from pml.settings import Settings

router = APIRouter(tags=["interactions"])


@router.post("/interactions/check", response_model=CheckResultOut, responses=UNAVAILABLE)
async def check_interactions(
    request: CheckRequest, principal: CurrentPrincipal, catalogue: ActiveCatalogueDep
) -> CheckResultOut:
    """Check an ad-hoc set of products, packages (varenr), ATC codes, substances or names against each other.

    Relevans 1 and 2 are reported; relevans 3 only with `include_relevans_3`. `visningsregel` filters records
    by the caller's setting. Items the release does not know come back in `unresolved`: they were not checked.
    """
    authorize(principal, Permission.CHECK_INTERACTIONS)
    return checking.check_items(catalogue.current, request.items, request)


async def _check_patient(
    access: PatientAccess, request: PatientCheckRequest, catalogue: ActiveCatalogue, database: Database,
    settings: Settings,
) -> PatientCheckResultOut:  # fmt: skip
    authorize(access.principal, Permission.CHECK_INTERACTIONS, access.patient_id)
    compiled = catalogue.current  # before reading the list: 503 without touching patient data
    async with database.read_transaction() as session:
        medication_list = await list_service(session, settings).current(access.patient_id)
    return checking.check_patient(compiled, medication_list, request)


@router.get(
    "/patients/{patient_id}/interactions", response_model=PatientCheckResultOut, responses=UNAVAILABLE
)
async def check_patient_list(
    access: ReadListAccess, catalogue: ActiveCatalogueDep, database: DatabaseDep, settings: SettingsDep,
    include_relevans_3: Annotated[bool, Query()] = False,
    visningsregel: Annotated[Visningsregel | None, Query()] = None,
) -> PatientCheckResultOut:  # fmt: skip
    """Check the patient's current active list entries with each other."""
    options = PatientCheckRequest(include_relevans_3=include_relevans_3, visningsregel=visningsregel)
    return await _check_patient(access, options, catalogue, database, settings)


@router.post(
    "/patients/{patient_id}/interactions", response_model=PatientCheckResultOut, responses=UNAVAILABLE
)
async def check_patient_list_with_proposals(
    request: PatientCheckRequest, access: ReadListAccess, catalogue: ActiveCatalogueDep,
    database: DatabaseDep, settings: SettingsDep,
) -> PatientCheckResultOut:  # fmt: skip
    """Check the patient's current active list entries plus `proposed` additions (e.g. before prescribing)."""
    return await _check_patient(access, request, catalogue, database, settings)

