"""/v1/patients/{patient_id}/source-snapshots and /reconciliations: sources send their view of the patient's
medicines; PML proposes findings against the shared list; clinicians decide.

Thin: parse, authorize, call the reconciliation service, render. The submit endpoint reads the raw body
itself, so the snapshot is stored byte for byte as it arrived.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from api.access import PatientAccess, ReadListAccess, patient_access
from api.auth import Forbidden, Principal
from api.authz import Permission, authorize
from api.deps import DatabaseDep, SettingsDep
from api.problems import PROBLEM_CONTENT_TYPE, problem_response
from api.v1.conditional import etag, idempotency_key, json_response, parse_if_match
from pml.idempotency.repository import IdempotencyRepository, StoredResponse, request_fingerprint
from pml.medication_list.schemas import MedicationList, Source
from pml.memory import settle_long_lived_objects
from pml.reconciliation.errors import CatalogueNotActive
from pml.reconciliation.interpretation.resolver import Resolver
from pml.reconciliation.schemas import (
    DecisionHistory,
    DecisionRecord,
    DecisionRequest,
    OpenProposals,
    Proposal,
    SnapshotKind,
    SnapshotRecord,
    SnapshotSubmission,
    SubmissionOutcome,
)
from pml.reconciliation.service import DecisionOutcome, StaleProposal
from pml.reconciliation.submission import propose_or_record_failure, reconciliation_service, submit_snapshot

router = APIRouter(prefix="/patients/{patient_id}", tags=["reconciliation"])

ReconcileAccess = Annotated[PatientAccess, Depends(patient_access(Permission.RECONCILE))]
DecideAccess = Annotated[PatientAccess, Depends(patient_access(Permission.DECIDE_RECONCILIATION))]
JSON = "application/json"
# A pharmacist may submit dispensings and a home-care nurse the home-care list; prescribers and registered
# systems may submit any source's snapshot.
_NARROW_SUBMIT = {
    (Source.PHARMACY, SnapshotKind.DISPENSING): Permission.SUBMIT_DISPENSING,
    (Source.HOME_CARE, SnapshotKind.MEDICATION_LIST): Permission.SUBMIT_HOME_CARE,
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {}}}


class DecisionResult(BaseModel):
    """The decisions taken, the proposal as it now stands and the list after the changes."""

    decisions: list[DecisionRecord]
    proposal: Proposal
    medication_list: MedicationList


# -- the catalogue a snapshot is interpreted with ----------------------------------------------------------


async def optional_resolver(request: Request) -> Resolver | None:
    """A resolver over the release this node serves, built once per release; None when none is active."""
    refresher = getattr(request.app.state, "catalogue", None)
    active = getattr(refresher, "active", None)
    if active is None or active.release_id is None:
        return None
    compiled = active.current
    cached: Resolver | None = getattr(request.app.state, "reconciliation_resolver", None)
    if cached is None or cached.release_id != compiled.release_id:
        cached = await asyncio.to_thread(
            Resolver, compiled.catalogue, search=compiled.search, release_id=compiled.release_id
        )
        request.app.state.reconciliation_resolver = cached
        settle_long_lived_objects()  # the resolver's tables live as long as the release
    return cached


async def required_resolver(resolver: Annotated[Resolver | None, Depends(optional_resolver)]) -> Resolver:
    if resolver is None:
        raise CatalogueNotActive("no drug catalogue release is active on this server; try again when one is")
    return resolver


OptionalResolver = Annotated[Resolver | None, Depends(optional_resolver)]
RequiredResolver = Annotated[Resolver, Depends(required_resolver)]


def _authorize_submission(principal: Principal, submission: SnapshotSubmission, patient_id: str) -> None:
    narrow = _NARROW_SUBMIT.get((submission.source, submission.kind))
    if narrow is not None:
        try:
            authorize(principal, narrow, patient_id)
            return
        except Forbidden:
            pass
    authorize(principal, Permission.SUBMIT_SNAPSHOT, patient_id)


# -- snapshots ----------------------------------------------------------------------------------------------


@router.post(
    "/source-snapshots",
    status_code=201,
    response_model=SubmissionOutcome,
    responses={
        403: _problem("this role may not submit this source"),
        413: _problem("body too large"),
        422: _problem("invalid envelope or Idempotency-Key reuse"),
    },
)
async def submit(
    submission: SnapshotSubmission,
    request: Request,
    access: ReadListAccess,
    database: DatabaseDep,
    settings: SettingsDep,
    resolver: OptionalResolver,
) -> Response:
    """Submit a source system's current view (GP list, hospital admission or discharge, home-care list,
    pharmacy dispensings). The body is stored verbatim before it is interpreted; entries PML cannot interpret
    are kept and become findings. Send an `Idempotency-Key` so a retry stores nothing twice."""
    _authorize_submission(access.principal, submission, access.patient_id)
    outcome = await submit_snapshot(
        database,
        settings,
        patient_id=access.patient_id,
        submission=submission,
        raw_body=await request.body(),
        actor=access.principal.actor,
        idempotency_key=idempotency_key(request),
        resolver=resolver,
    )
    response = json_response(outcome, status_code=201)
    response.headers["Location"] = f"{request.url.path}/{outcome.snapshot.id}"
    return response


@router.get("/source-snapshots/{snapshot_id}", response_model=SnapshotRecord)
async def read_snapshot(
    snapshot_id: uuid.UUID, access: ReconcileAccess, database: DatabaseDep, settings: SettingsDep
) -> Response:
    """A stored snapshot with its document exactly as it was received."""
    async with database.read_transaction() as session:
        record = await reconciliation_service(session, settings).snapshot(access.patient_id, snapshot_id)
    return json_response(record)


@router.post(
    "/source-snapshots/{snapshot_id}/reconcile",
    status_code=201,
    response_model=SubmissionOutcome,
    responses={503: _problem("no catalogue release is active")},
)
async def reconcile_again(
    snapshot_id: uuid.UUID,
    access: ReconcileAccess,
    database: DatabaseDep,
    settings: SettingsDep,
    resolver: RequiredResolver,
) -> Response:
    """Reconcile a stored snapshot against the current list again (after a failure, a deferral or to refresh):
    a new proposal replaces the open one of the same source and kind."""
    async with database.read_transaction() as session:
        await reconciliation_service(session, settings).snapshot(access.patient_id, snapshot_id)  # 404 first
    outcome = await propose_or_record_failure(
        database, settings, access.patient_id, snapshot_id, access.principal.actor, resolver
    )
    return json_response(outcome, status_code=201)


# -- proposals and decisions --------------------------------------------------------------------------------


@router.get("/reconciliations", response_model=OpenProposals)
async def read_open_proposals(
    access: ReconcileAccess, database: DatabaseDep, settings: SettingsDep
) -> Response:
    """Open proposals: findings waiting for a clinician, per source snapshot."""
    async with database.read_transaction() as session:
        proposals = await reconciliation_service(session, settings).open_proposals(access.patient_id)
    return json_response(proposals)


@router.get("/reconciliations/decisions", response_model=DecisionHistory)
async def read_decisions(
    access: ReconcileAccess,
    database: DatabaseDep,
    settings: SettingsDep,
    before: Annotated[dt.datetime | None, Query(description="decisions before this time (next page)")] = None,
    proposal_id: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """The history of decisions, by clinicians and by the auto-apply policy, newest first."""
    async with database.read_transaction() as session:
        history = await reconciliation_service(session, settings).decision_history(
            access.patient_id, before=before, limit=limit, proposal_id=proposal_id
        )
    return json_response(history)


@router.get("/reconciliations/{proposal_id}", response_model=Proposal)
async def read_proposal(
    proposal_id: uuid.UUID, access: ReconcileAccess, database: DatabaseDep, settings: SettingsDep
) -> Response:
    """A proposal with all its findings and their evidence, and the list version they were computed on."""
    async with database.read_transaction() as session:
        proposal = await reconciliation_service(session, settings).proposal(access.patient_id, proposal_id)
    return json_response(proposal)


@router.post(
    "/reconciliations/{proposal_id}/decisions",
    response_model=DecisionResult,
    responses={
        409: _problem(
            "proposal-stale: re-evaluated against the current list, nothing applied; or the "
            "finding or proposal takes no decision"
        ),
        412: _problem("If-Match is stale"),
        428: _problem("If-Match missing"),
        503: _problem("no catalogue release is active"),
    },
    openapi_extra={
        "parameters": [
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "description": "the list version the decisions are based on",
                "schema": {"type": "string"},
            }
        ]
    },
)
async def decide(
    proposal_id: uuid.UUID,
    body: DecisionRequest,
    request: Request,
    access: DecideAccess,
    database: DatabaseDep,
    settings: SettingsDep,
    resolver: RequiredResolver,
) -> Response:
    """Accept, reject or edit findings, all in one transaction. If the list has moved since the proposal was
    computed, the proposal is re-evaluated against the current list and returned in a 409 `proposal-stale`
    problem: nothing is applied until a clinician has seen it."""
    expected = parse_if_match(request.headers.get("if-match"))
    key = idempotency_key(request)
    fingerprint = request_fingerprint(request.method, request.url.path, body.model_dump(mode="json"))
    patient_id = access.patient_id
    async with database.write_transaction() as session:
        service = reconciliation_service(session, settings, resolver)
        await service.lock(patient_id)
        idempotency = IdempotencyRepository(session)
        if key is not None and (stored := await idempotency.replay(patient_id, key, fingerprint)):
            return _replayed(stored)
        result = await service.decide(patient_id, proposal_id, expected, body, access.principal.actor)
        response = _render_decision(result)
        if key is not None:
            await idempotency.save(patient_id, key, fingerprint, _storable(response))
    return response


def _render_decision(result: DecisionOutcome | StaleProposal) -> Response:
    if isinstance(result, StaleProposal):
        return problem_response(
            409,
            "proposal-stale",
            "The list has changed since this proposal was made",
            f"the proposal was re-evaluated against list version {result.current_version}; review it and "
            "decide again with If-Match set to that version",
            headers={"ETag": etag(result.current_version)},
            current_version=result.current_version,
            proposal=result.proposal.model_dump(mode="json"),
        )
    outcome = DecisionResult(
        decisions=result.decisions, proposal=result.proposal, medication_list=result.medication_list
    )
    return json_response(outcome, version=result.medication_list.version)


def _storable(response: Response) -> StoredResponse:
    headers = {name: value for name, value in response.headers.items() if name in ("etag", "content-type")}
    return StoredResponse(response.status_code, headers, bytes(response.body))


def _replayed(stored: StoredResponse) -> Response:
    media_type = stored.headers.pop("content-type", JSON)
    headers = stored.headers | {"Idempotent-Replayed": "true"}
    return Response(stored.body, status_code=stored.status_code, media_type=media_type, headers=headers)
