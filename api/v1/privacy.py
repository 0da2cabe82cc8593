"""A patient's own privacy controls: blocks (sperring) and who has accessed their list.

Also the auditor's queries.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from api.access import PatientAccess, patient_access
from api.authz import Permission, authorize
from api.deps import CurrentPrincipal, DatabaseDep, SettingsDep, checked_patient_id
from api.v1.conditional import json_response
from pml.audit.repository import AuditRepository
from pml.audit.schemas import AuditPage, AuditRecord
from pml.errors import InvalidInput, NotFound
from pml.privacy.repository import BlockRepository
from pml.privacy.schemas import Block, BlockList, NewBlock

router = APIRouter(tags=["privacy and audit"])

OwnBlocks = Annotated[PatientAccess, Depends(patient_access(Permission.MANAGE_OWN_BLOCKS))]
OwnAccessLog = Annotated[PatientAccess, Depends(patient_access(Permission.READ_OWN_ACCESS_LOG))]
PageLimit = Annotated[int, Query(ge=1, le=500)]


class BlockNotFound(NotFound):
    problem_type = "block-not-found"
    title = "No such active block"


def _page(records: list[AuditRecord], limit: int) -> AuditPage:
    next_before = records[-1].recorded_at if len(records) == limit else None
    return AuditPage(records=records, next_before=next_before)


@router.get("/patients/{patient_id}/blocks", response_model=BlockList)
async def list_blocks(access: OwnBlocks, database: DatabaseDep) -> Response:
    """The patient's active blocks."""
    async with database.read_transaction() as session:
        blocks = await BlockRepository(session).active(access.patient_id)
    return json_response(BlockList(patient_id=access.patient_id, blocks=blocks))


@router.post("/patients/{patient_id}/blocks", status_code=201, response_model=Block)
async def add_block(block: NewBlock, access: OwnBlocks, database: DatabaseDep) -> Response:
    """Block a clinician (HPR number) or an organisation from the patient's list, except in emergencies."""
    async with database.write_transaction() as session:
        created = await BlockRepository(session).add(access.patient_id, block, access.principal.actor.subject)
    return json_response(created, status_code=201)


@router.delete("/patients/{patient_id}/blocks/{block_id}", status_code=204)
async def revoke_block(block_id: uuid.UUID, access: OwnBlocks, database: DatabaseDep) -> Response:
    """Lift a block (it stays on record as revoked)."""
    async with database.write_transaction() as session:
        if not await BlockRepository(session).revoke(access.patient_id, block_id):
            raise BlockNotFound(f"block {block_id} is not an active block on this patient")
    return Response(status_code=204)


@router.get("/patients/{patient_id}/access-log", response_model=AuditPage)
async def read_own_access_log(
    access: OwnAccessLog, database: DatabaseDep, limit: PageLimit = 100, before: dt.datetime | None = None
) -> Response:
    """Who has read or changed the patient's data, when, why, and whether it was emergency access."""
    async with database.read_transaction() as session:
        records = await AuditRepository(session).by_patient(access.patient_id, before=before, limit=limit)
    return json_response(_page(records, limit))


@router.get("/audit/records", response_model=AuditPage)
async def query_audit(
    principal: CurrentPrincipal, database: DatabaseDep, settings: SettingsDep,
    patient_id: str | None = None, actor: str | None = None, limit: PageLimit = 100,
    before: dt.datetime | None = None,
) -> Response:
    """For auditors: the audit records of one patient, or of one actor (token subject)."""
    authorize(principal, Permission.QUERY_AUDIT)
    if (patient_id is None) == (actor is None):
        raise InvalidInput("give exactly one of patient_id and actor")
    async with database.read_transaction() as session:
        repository = AuditRepository(session)
        if patient_id is not None:
            records = await repository.by_patient(
                checked_patient_id(patient_id, settings), before=before, limit=limit
            )
        else:
            assert actor is not None
            records = await repository.by_actor(actor, before=before, limit=limit)
    return json_response(_page(records, limit))

