"""Patient access for FHIR routes, whose patient is part of a resource id rather than a `{patient_id}` path
parameter. It runs the same `patient_access` dependency as /v1 (role, scopes, blocks, emergency access,
purpose of use, and the audit draft), called with the patient taken from the id."""

from __future__ import annotations

from fastapi import Request

from api.access import EMERGENCY_HEADER, PURPOSE_HEADER, PatientAccess, grant_access
from api.auth import Principal
from api.authz import Permission
from api.deps import checked_patient_id
from api.fhir.ids import ResourceNotFound
from pml.cache.patient_cache import PatientCache
from pml.errors import InvalidPatientId
from pml.settings import Settings


def fhir_patient_id(patient_id: str, settings: Settings) -> str:
    """A valid national id, or 404: under FHIR, an id that names no patient names no resource."""
    try:
        return checked_patient_id(patient_id, settings)
    except InvalidPatientId as error:
        raise ResourceNotFound(error.detail) from None


async def open_patient(
    request: Request,
    principal: Principal,
    settings: Settings,
    permission: Permission,
    patient_id: str,
    *,
    default_purpose: str | None = None,
) -> PatientAccess:
    """Grant `permission` on the patient (audited either way) or raise 403/422 as /v1 does. A caller whose
    interaction implies its purpose (a CDS hook call is treatment) may name a default for X-PML-Purpose."""
    checked = fhir_patient_id(patient_id, settings)
    # The route's principal dependency has counted the call against the rate limit already.
    cache: PatientCache = request.app.state.patient_cache
    return await grant_access(
        request, principal, checked, permission, cached=await cache.fetch(checked),
        purpose=request.headers.get(PURPOSE_HEADER) or default_purpose,
        emergency=request.headers.get(EMERGENCY_HEADER),
    )
