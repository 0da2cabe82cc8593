"""Receiving a snapshot: two transactions on purpose.

1. Store it verbatim and commit. From here on nothing the source sent can be lost, whatever happens next.
2. Interpret and reconcile it under the patient's lock, apply the auto-apply policy, commit the proposal.
If step 2 fails, a third transaction records the failure beside the stored snapshot, which can be reconciled
again later. A retry with the same Idempotency-Key finds the stored snapshot and, if its proposal was made,
gets
that proposal back; if the first attempt died between the steps, the retry finishes step 2.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pml.db.engine import Database
from pml.errors import DomainError
from pml.medication_list.repository import MedicationListRepository
from pml.medication_list.schemas import Actor
from pml.medication_list.service import ListLimits, MedicationListService
from pml.reconciliation.interpretation.resolver import Resolver
from pml.reconciliation.policy import AutoApplyPolicy
from pml.reconciliation.repository import ReconciliationRepository
from pml.reconciliation.schemas import (
    InterpretationStatus,
    Proposal,
    ProposalStatus,
    SnapshotSubmission,
    SubmissionOutcome,
)
from pml.reconciliation.service import ReconciliationService
from pml.settings import Settings

log = logging.getLogger(__name__)
DEFERRED_DETAIL = (
    "stored; no drug catalogue release is active, so it was not interpreted yet. Reconcile it once one is "
    "(POST .../source-snapshots/{id}/reconcile)."
)


def reconciliation_service(
    session: Any, settings: Settings, resolver: Resolver | None = None
) -> ReconciliationService:
    limits = ListLimits(max_entries=settings.max_list_entries, max_page_size=settings.max_page_size)
    lists = MedicationListService(MedicationListRepository(session), limits)
    policy = AutoApplyPolicy.of(settings.reconciliation_auto_apply)
    return ReconciliationService(ReconciliationRepository(session), lists, resolver=resolver, policy=policy)


async def submit_snapshot(
    database: Database,
    settings: Settings,
    *,
    patient_id: str,
    submission: SnapshotSubmission,
    raw_body: bytes,
    actor: Actor,
    idempotency_key: str | None,
    resolver: Resolver | None,
) -> SubmissionOutcome:
    async with database.write_transaction() as session:
        receipt = await reconciliation_service(session, settings).store_snapshot(
            patient_id, submission, raw_body, actor, idempotency_key=idempotency_key
        )
    snapshot = receipt.snapshot.record
    if receipt.replayed:
        earlier = await _earlier_proposal(database, settings, patient_id, snapshot.id)
        if earlier is not None:
            return _outcome(snapshot, earlier)
    if resolver is None:
        return SubmissionOutcome(
            snapshot=snapshot, interpretation=InterpretationStatus.DEFERRED, detail=DEFERRED_DETAIL
        )
    return await propose_or_record_failure(database, settings, patient_id, snapshot.id, actor, resolver)


async def propose_or_record_failure(
    database: Database,
    settings: Settings,
    patient_id: str,
    snapshot_id: uuid.UUID,
    actor: Actor,
    resolver: Resolver,
) -> SubmissionOutcome:
    try:
        async with database.write_transaction() as session:
            service = reconciliation_service(session, settings, resolver)
            proposal = await service.propose(patient_id, snapshot_id, actor)
            snapshot = await service.snapshot(patient_id, snapshot_id)
        return _outcome(snapshot, proposal)
    except Exception as error:  # whatever went wrong, the stored snapshot must be answered for
        log.exception("reconciling snapshot %s failed", snapshot_id)
        detail = error.detail if isinstance(error, DomainError) else "the snapshot could not be interpreted"
        async with database.write_transaction() as session:
            service = reconciliation_service(session, settings, resolver)
            failed = await service.record_failure(patient_id, snapshot_id, detail)
            snapshot = await service.snapshot(patient_id, snapshot_id)
        return _outcome(snapshot, failed)


async def _earlier_proposal(
    database: Database, settings: Settings, patient_id: str, snapshot_id: uuid.UUID
) -> Proposal | None:
    async with database.read_transaction() as session:
        proposal = await reconciliation_service(session, settings).latest_proposal_of(patient_id, snapshot_id)
    return proposal if proposal is not None and proposal.status is not ProposalStatus.FAILED else None


def _outcome(snapshot: Any, proposal: Proposal) -> SubmissionOutcome:
    failed = proposal.status is ProposalStatus.FAILED
    return SubmissionOutcome(
        snapshot=snapshot.model_copy(update={"document": None}),
        interpretation=InterpretationStatus.FAILED if failed else InterpretationStatus.PROPOSED,
        detail=proposal.error if failed else None,
        proposal=proposal,
    )
