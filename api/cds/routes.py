"""/cds-services: CDS Hooks 2.0 discovery, the order-select and order-sign services, and feedback.

Callers authenticate with the same bearer tokens as the rest of PML (HelseID style) rather than a CDS client
JWT; a hook call opens the patient like any read (role, blocks, audit) and states its purpose of use in
X-PML-Purpose, which defaults to TREAT here: ordering a medicine is treatment. These routes are described by
the discovery document, not by /v1's OpenAPI document.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import Response

from api.authz import Permission, authorize
from api.cds.cards import build_cards
from api.cds.drafts import drafts, prefetched_list
from api.cds.schemas import Discovery, FeedbackRequest, HookRequest, HookResponse, ServiceDefinition
from api.deps import CurrentPrincipal, DatabaseDep, SettingsDep, checked_patient_id
from api.fhir.access import open_patient
from api.v1.catalogue import ActiveCatalogueDep
from api.v1.conditional import list_service
from pml.catalogue import checking
from pml.catalogue.schemas import PatientCheckRequest
from pml.cds.repository import CdsRepository
from pml.cds.schemas import CardFeedback, FeedbackOutcome
from pml.cds.service import CdsService
from pml.errors import InvalidInput, NotFound

router = APIRouter(prefix="/cds-services", include_in_schema=False)

PREFETCH = {"medications": "MedicationStatement?patient={{context.patientId}}"}
SERVICES = {
    "pml-interactions-order-select": ServiceDefinition(
        hook="order-select",
        id="pml-interactions-order-select",
        title="PML legemiddelinteraksjoner",
        description="Interactions (FEST), the same substance twice, and drafts that could not be checked, "
        "for the newly selected medication orders against the patient's shared medication list (PML).",
        prefetch=PREFETCH,
        usageRequirements="context.patientId is the patient's national id. Send prefetch.medications only "
        "if your FHIR server is PML's facade; without it PML reads the shared list itself.",
    ),
    "pml-interactions-order-sign": ServiceDefinition(
        hook="order-sign",
        id="pml-interactions-order-sign",
        title="PML legemiddelinteraksjoner ved signering",
        description="The same checks for every draft medication order, before the prescriber signs.",
        prefetch=PREFETCH,
        usageRequirements="As pml-interactions-order-select.",
    ),
}
ServiceId = Annotated[str, Path(max_length=64)]


class UnknownService(NotFound):
    problem_type = "cds-service-not-found"
    title = "No such CDS service"


def _service(service_id: str) -> ServiceDefinition:
    if service_id not in SERVICES:
        raise UnknownService(f"PML has no CDS service '{service_id}'; see GET /cds-services")
    return SERVICES[service_id]


def _json(model: Any) -> Response:
    return Response(model.model_dump_json(exclude_none=True), media_type="application/json")


@router.get("")
async def cds_discovery() -> Response:
    """The services PML offers (public: it names no patient)."""
    return _json(Discovery(services=list(SERVICES.values())))


@router.post("/{service_id}")
async def cds_hook(
    service_id: ServiceId,
    hook_request: Annotated[HookRequest, Body()],
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
    catalogue: ActiveCatalogueDep,
) -> Response:
    started = time.perf_counter()
    service = _service(service_id)
    if hook_request.hook != service.hook:
        raise InvalidInput(
            f"the service {service_id} answers the {service.hook} hook, not {hook_request.hook}"
        )
    patient_id = checked_patient_id(hook_request.context.patientId.removeprefix("Patient/"), settings)
    access = await open_patient(
        request, principal, settings, Permission.READ_LIST, patient_id, default_purpose="TREAT"
    )
    authorize(principal, Permission.CHECK_INTERACTIONS, patient_id)
    compiled = catalogue.current  # 503 before touching patient data when no release is active
    draft_orders = drafts(compiled, hook_request.context.draftOrders)
    given = prefetched_list(patient_id, hook_request.prefetch or {})
    async with database.write_transaction() as session:
        medication_list = given or await list_service(session, settings).current(patient_id)
        proposed = [d.item for d in draft_orders if d.item is not None]
        result = checking.check_patient(compiled, medication_list, PatientCheckRequest(proposed=proposed))
        selected = set(hook_request.context.selections) if hook_request.context.selections else None
        built = build_cards(service_id, hook_request.hookInstance, result, draft_orders, selected)
        await CdsService(CdsRepository(session)).record_cards(
            patient_id, access.principal.actor.subject, built.issued
        )
    response = _json(HookResponse(cards=built.cards))
    response.headers["Server-Timing"] = f"check;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


def _card_feedback(feedback: Any) -> CardFeedback:
    reason = feedback.overrideReason
    return CardFeedback(
        card_uuid=feedback.card,
        outcome=FeedbackOutcome(feedback.outcome),
        accepted_suggestions=[s.id for s in feedback.acceptedSuggestions or []],
        override_reason=reason.reason.model_dump() if reason and reason.reason else None,
        user_comment=reason.userComment if reason else None,
        outcome_at=feedback.outcomeTimestamp,
    )


@router.post("/{service_id}/feedback")
async def cds_feedback(
    service_id: ServiceId,
    body: Annotated[FeedbackRequest, Body()],
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    """Records each accepted or overridden card. All feedback of one call must concern one patient, so the
    call leaves one audit record for that patient."""
    _service(service_id)
    authorize(principal, Permission.CHECK_INTERACTIONS)
    items = [_card_feedback(feedback) for feedback in body.feedback]
    async with database.write_transaction() as session:
        cds = CdsService(CdsRepository(session))
        patients = {(await cds.card_patient(service_id, item))[0] for item in items}
        if len(patients) > 1:
            raise InvalidInput("send the feedback of each patient's cards in its own call")
        patient_id = patients.pop()
        await open_patient(
            request,
            principal,
            settings,
            Permission.CHECK_INTERACTIONS,
            patient_id,
            default_purpose="TREAT",
        )
        for item in items:
            await cds.record_feedback(patient_id, service_id, principal.actor.subject, item)
    return Response(status_code=200, content=b"{}", media_type="application/json")
