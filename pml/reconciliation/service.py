"""Reconciliation's rules: store what a source sent, propose findings against a stated list version, apply the
auto-apply policy, take clinicians' decisions, and re-evaluate a proposal when the list has moved.

Every list change goes through `MedicationListService` in the caller's transaction, after the patient's list
row is locked, so reconciliation obeys the same version and history rules as any other writer, and every
change it makes carries provenance back to the snapshot, the proposal, the finding and the decision.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

from pml.errors import InvalidInput
from pml.idempotency.errors import IdempotencyKeyReused
from pml.medication_list.errors import VersionConflict
from pml.medication_list.schemas import (
    Actor,
    ChangeAction,
    EntryChange,
    MedicationList,
    Provenance,
    Source,
)
from pml.medication_list.service import MedicationListService
from pml.metrics import RECONCILIATION_FINDINGS
from pml.reconciliation.errors import (
    CatalogueNotActive,
    FindingNotOpen,
    InvalidDecision,
    ProposalClosed,
    ProposalNotFound,
    SnapshotNotFound,
)
from pml.reconciliation.evidence import SnapshotContext
from pml.reconciliation.findings import DraftFinding
from pml.reconciliation.interpretation.resolver import Resolver
from pml.reconciliation.models import ProposalRow
from pml.reconciliation.pipeline import reconcile
from pml.reconciliation.policy import AutoApplyPolicy
from pml.reconciliation.refresh import StoredFinding, plan_refresh
from pml.reconciliation.repository import (
    NewDecision,
    NewProposal,
    NewSnapshot,
    ReconciliationRepository,
    StoredSnapshot,
)
from pml.reconciliation.schemas import (
    AddEntryAction,
    ChangeEntryAction,
    DecisionHistory,
    DecisionKind,
    DecisionRecord,
    DecisionRequest,
    Finding,
    FindingClass,
    FindingDecision,
    FindingState,
    OpenProposals,
    PauseEntryAction,
    Proposal,
    ProposalStatus,
    ProposedAction,
    RecordDispensingAction,
    ResumeEntryAction,
    SnapshotRecord,
    SnapshotSubmission,
    StopEntryAction,
)

_STATUS_ACTIONS: dict[type[StopEntryAction | PauseEntryAction | ResumeEntryAction], ChangeAction] = {
    StopEntryAction: ChangeAction.STOP,
    PauseEntryAction: ChangeAction.PAUSE,
    ResumeEntryAction: ChangeAction.RESUME,
}  # fmt: skip
_STATE_OF_DECISION = {
    DecisionKind.ACCEPT: FindingState.ACCEPTED, DecisionKind.REJECT: FindingState.REJECTED,
    DecisionKind.EDIT: FindingState.EDITED, DecisionKind.AUTO: FindingState.AUTO_APPLIED,
}  # fmt: skip
MAX_HISTORY_PAGE = 500


@dataclass(frozen=True, slots=True)
class SnapshotReceipt:
    """A stored snapshot, and whether this request only repeated an earlier one (same Idempotency-Key)."""

    snapshot: StoredSnapshot
    replayed: bool


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    proposal: Proposal
    medication_list: MedicationList
    decisions: list[DecisionRecord]


@dataclass(frozen=True, slots=True)
class StaleProposal:
    """The proposal was computed against an older list: it was re-evaluated and nothing was applied."""

    proposal: Proposal
    current_version: int


@dataclass(frozen=True, slots=True)
class _Applied:
    version: int


def content_hash(raw_body: bytes) -> str:
    return hashlib.sha256(raw_body).hexdigest()


class ReconciliationService:
    def __init__(
        self,
        repository: ReconciliationRepository,
        lists: MedicationListService,
        *,
        resolver: Resolver | None = None,
        policy: AutoApplyPolicy | None = None,
    ) -> None:
        self._repo = repository
        self._lists = lists
        self._resolver = resolver
        self._policy = policy or AutoApplyPolicy(frozenset())

    async def lock(self, patient_id: str) -> None:
        """Serialise this patient's writers for the rest of the transaction (the list's own lock)."""
        await self._lists.lock(patient_id)

    # -- snapshots --------------------------------------------------------------------------------------

    async def store_snapshot(
        self,
        patient_id: str,
        submission: SnapshotSubmission,
        raw_body: bytes,
        actor: Actor,
        *,
        idempotency_key: str | None = None,
    ) -> SnapshotReceipt:
        """Keep what the source sent, exactly as received, before anything tries to interpret it."""
        digest = content_hash(raw_body)
        if idempotency_key is not None:
            earlier = await self._repo.snapshot_by_key(patient_id, idempotency_key)
            if earlier is not None:
                if earlier.request_hash != digest:
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was first used with a different snapshot; use a new key"
                    )
                return SnapshotReceipt(earlier, replayed=True)
        new = NewSnapshot(
            snapshot_id=uuid.uuid4(),
            source=submission.source,
            kind=submission.kind,
            actor=actor,
            sent_at=submission.sent_at,
            sender_system=submission.sender_system,
            document_id=submission.document_id,
            entry_count=len(submission.entries),
            raw_body=raw_body,
            content_sha256=digest,
            idempotency_key=idempotency_key,
            request_hash=digest if idempotency_key else None,
        )
        return SnapshotReceipt(await self._repo.save_snapshot(patient_id, new), replayed=False)

    async def snapshot(self, patient_id: str, snapshot_id: uuid.UUID) -> SnapshotRecord:
        return (await self._stored_snapshot(patient_id, snapshot_id)).record

    async def _stored_snapshot(self, patient_id: str, snapshot_id: uuid.UUID) -> StoredSnapshot:
        stored = await self._repo.snapshot(patient_id, snapshot_id)
        if stored is None:
            raise SnapshotNotFound(f"snapshot {snapshot_id} was not sent for this patient")
        return stored

    async def latest_proposal_of(self, patient_id: str, snapshot_id: uuid.UUID) -> Proposal | None:
        rows = await self._repo.proposals_of_snapshot(patient_id, snapshot_id)
        return await self._assemble(rows[0]) if rows else None

    # -- proposing --------------------------------------------------------------------------------------

    async def propose(self, patient_id: str, snapshot_id: uuid.UUID, actor: Actor) -> Proposal:
        """Reconcile a stored snapshot against the current list: a new proposal, replacing any open one of the
        same source and kind; then apply what the policy allows."""
        resolver = self._require_resolver()
        header = await self._lists.lock(patient_id)
        stored = await self._stored_snapshot(patient_id, snapshot_id)
        submission = SnapshotSubmission.model_validate_json(stored.raw_body)
        context = _context(stored.record, submission)
        current = await self._lists.current(patient_id)
        drafts = reconcile(context, submission.entries, current.entries, resolver)
        for draft in drafts:
            RECONCILIATION_FINDINGS.labels(draft.finding_class.value).inc()
        proposal_id = uuid.uuid4()
        await self._repo.save_proposal(
            patient_id,
            NewProposal(
                proposal_id,
                snapshot_id,
                submission.source,
                submission.kind,
                _status_of(drafts),
                header.version,
                resolver.release_id,
            ),
        )
        await self._repo.add_findings(
            patient_id, proposal_id, drafts, first_position=0, version=header.version
        )
        await self._supersede_older(patient_id, submission, proposal_id)
        await self._auto_apply(patient_id, proposal_id, stored.record, context, drafts, actor)
        return await self.proposal(patient_id, proposal_id)

    async def record_failure(self, patient_id: str, snapshot_id: uuid.UUID, error: str) -> Proposal:
        """The snapshot could not be interpreted: say so in a proposal of its own (the snapshot stays)."""
        stored = await self._stored_snapshot(patient_id, snapshot_id)
        header = await self._lists.lock(patient_id)
        proposal_id = uuid.uuid4()
        record = stored.record
        await self._repo.save_proposal(
            patient_id,
            NewProposal(
                proposal_id,
                snapshot_id,
                record.source,
                record.kind,
                ProposalStatus.FAILED,
                header.version,
                self._resolver.release_id if self._resolver else None,
                error=error[:2000],
            ),
        )
        return await self.proposal(patient_id, proposal_id)

    async def _supersede_older(
        self, patient_id: str, submission: SnapshotSubmission, newer: uuid.UUID
    ) -> None:
        """A newer snapshot of the same source and kind replaces the older one's open findings."""
        for row in await self._repo.open_proposals(
            patient_id, source=submission.source, kind=submission.kind
        ):
            if row.proposal_id == newer:
                continue
            open_ids = [
                s.finding.id
                for s in await self._repo.findings(patient_id, row.proposal_id)
                if s.finding.state in (FindingState.OPEN, FindingState.INFORMATIONAL)
            ]
            await self._repo.set_finding_states(patient_id, open_ids, FindingState.SUPERSEDED)
            await self._repo.update_proposal(
                patient_id, row.proposal_id, status=ProposalStatus.SUPERSEDED, superseded_by=newer
            )

    async def _auto_apply(
        self,
        patient_id: str,
        proposal_id: uuid.UUID,
        snapshot: SnapshotRecord,
        context: SnapshotContext,
        drafts: list[DraftFinding],
        actor: Actor,
    ) -> None:
        version = (await self._lists.lock(patient_id)).version
        applied = False
        for draft in drafts:
            rule = self._policy.rule_for(context, draft)
            if rule is None or draft.action is None:
                continue
            decision_id = uuid.uuid4()
            provenance = Provenance(
                snapshot_id=snapshot.id,
                proposal_id=proposal_id,
                finding_id=draft.id,
                decision_id=decision_id,
                policy=rule.value,
            )
            after = await self._apply(patient_id, version, draft.action, actor, context.source, provenance)
            await self._record_decision(
                patient_id,
                decision_id,
                proposal_id,
                snapshot.id,
                draft.id,
                draft.finding_class,
                DecisionKind.AUTO,
                draft.action,
                actor,
                version,
                after,
                policy=rule.value,
                note=None,
            )
            version, applied = after, True
        if applied:
            await self._refresh(patient_id, await self._proposal_row(patient_id, proposal_id))

    # -- decisions --------------------------------------------------------------------------------------

    async def decide(
        self,
        patient_id: str,
        proposal_id: uuid.UUID,
        expected_version: int,
        request: DecisionRequest,
        actor: Actor,
    ) -> DecisionOutcome | StaleProposal:
        """Apply a clinician's decisions in one transaction, or re-evaluate a stale proposal and apply
        nothing."""
        header = await self._lists.lock(patient_id)
        row = await self._proposal_row(patient_id, proposal_id)
        if row.status in (ProposalStatus.SUPERSEDED.value, ProposalStatus.FAILED.value):
            raise ProposalClosed(f"this proposal is {row.status}", superseded_by=_text(row.superseded_by))
        if header.version != expected_version:
            current = await self._lists.current(patient_id)
            raise VersionConflict(
                expected=expected_version,
                current=header.version,
                current_list=current.model_dump(mode="json"),
            )
        if row.list_version != header.version:
            await self._refresh(patient_id, row)
            return StaleProposal(await self.proposal(patient_id, proposal_id), header.version)
        findings = {s.finding.id: s.finding for s in await self._repo.findings(patient_id, proposal_id)}
        snapshot = (await self._stored_snapshot(patient_id, row.snapshot_id)).record
        records = []
        version = header.version
        for decision in request.decisions:
            finding = _open_finding(findings, decision)
            record = await self._take(patient_id, row, snapshot, finding, decision, actor, version)
            version = record.list_version_after
            records.append(record)
        await self._refresh(patient_id, await self._proposal_row(patient_id, proposal_id))
        return DecisionOutcome(
            await self.proposal(patient_id, proposal_id), await self._lists.current(patient_id), records
        )

    async def _take(
        self,
        patient_id: str,
        row: ProposalRow,
        snapshot: SnapshotRecord,
        finding: Finding,
        decision: FindingDecision,
        actor: Actor,
        version: int,
    ) -> DecisionRecord:
        kind = DecisionKind(decision.decision)
        action = _chosen_action(finding, decision)
        decision_id = uuid.uuid4()
        after = version
        if action is not None:
            provenance = Provenance(
                snapshot_id=snapshot.id,
                proposal_id=row.proposal_id,
                finding_id=finding.id,
                decision_id=decision_id,
            )
            after = await self._apply(patient_id, version, action, actor, snapshot.source, provenance)
        return await self._record_decision(
            patient_id,
            decision_id,
            row.proposal_id,
            snapshot.id,
            finding.id,
            finding.finding_class,
            kind,
            action,
            actor,
            version,
            after,
            policy=None,
            note=decision.note,
        )

    async def _record_decision(
        self,
        patient_id: str,
        decision_id: uuid.UUID,
        proposal_id: uuid.UUID,
        snapshot_id: uuid.UUID,
        finding_id: uuid.UUID,
        finding_class: FindingClass,
        kind: DecisionKind,
        action: ProposedAction | None,
        actor: Actor,
        before: int,
        after: int,
        *,
        policy: str | None,
        note: str | None,
    ) -> DecisionRecord:
        record = await self._repo.add_decision(
            patient_id,
            NewDecision(
                decision_id,
                proposal_id,
                finding_id,
                snapshot_id,
                kind,
                finding_class,
                action,
                actor,
                policy,
                note,
                before,
                after,
            ),
        )
        await self._repo.set_finding_states(patient_id, [finding_id], _STATE_OF_DECISION[kind], decision_id)
        return record

    async def _apply(
        self,
        patient_id: str,
        version: int,
        action: ProposedAction,
        actor: Actor,
        source: Source,
        provenance: Provenance,
    ) -> int:
        """Make one list change through the medication list's own rules; the list's new version."""
        lists = self._lists
        if isinstance(action, AddEntryAction):
            result = await lists.add_entry(patient_id, version, action.entry, actor, provenance=provenance)
        elif isinstance(action, ChangeEntryAction):
            change_source = action.change.source or source
            result = await lists.change_entry(
                patient_id,
                version,
                action.entry_id,
                action.change,
                actor,
                change_source,
                provenance=provenance,
            )
        elif isinstance(action, RecordDispensingAction):
            change = EntryChange(
                last_dispensed_on=action.dispensed_on,
                reason=f"dispensed at a pharmacy on {action.dispensed_on.isoformat()}",
            )
            result = await lists.change_entry(
                patient_id, version, action.entry_id, change, actor, source, provenance=provenance
            )
        else:
            result = await lists.change_status(
                patient_id,
                version,
                action.entry_id,
                _STATUS_ACTIONS[type(action)],
                reason=action.reason,
                source=source,
                actor=actor,
                provenance=provenance,
            )
        return result.medication_list.version

    # -- re-evaluation ----------------------------------------------------------------------------------

    async def _refresh(self, patient_id: str, row: ProposalRow) -> None:
        """Re-evaluate the proposal against the current list, keeping what still holds (see refresh.py)."""
        header = await self._lists.lock(patient_id)
        existing = await self._repo.findings(patient_id, row.proposal_id)
        if row.list_version != header.version:
            stored = await self._stored_snapshot(patient_id, row.snapshot_id)
            submission = SnapshotSubmission.model_validate_json(stored.raw_body)
            current = await self._lists.current(patient_id)
            drafts = reconcile(
                _context(stored.record, submission),
                submission.entries,
                current.entries,
                self._require_resolver(),
            )
            plan = plan_refresh(existing, drafts)
            await self._repo.set_finding_states(patient_id, plan.supersede, FindingState.SUPERSEDED)
            await self._repo.add_findings(
                patient_id, row.proposal_id, plan.add, first_position=len(existing), version=header.version
            )
            existing = await self._repo.findings(patient_id, row.proposal_id)
        status = _status_of_stored(existing)
        await self._repo.update_proposal(
            patient_id, row.proposal_id, status=status, list_version=header.version
        )

    # -- reads ------------------------------------------------------------------------------------------

    async def proposal(self, patient_id: str, proposal_id: uuid.UUID) -> Proposal:
        return await self._assemble(await self._proposal_row(patient_id, proposal_id))

    async def open_proposals(self, patient_id: str) -> OpenProposals:
        rows = await self._repo.open_proposals(patient_id)
        return OpenProposals(patient_id=patient_id, proposals=await self._repo.summaries(rows))

    async def decision_history(
        self, patient_id: str, *, before: dt.datetime | None, limit: int, proposal_id: uuid.UUID | None = None
    ) -> DecisionHistory:
        if limit < 1 or limit > MAX_HISTORY_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_HISTORY_PAGE}")
        records = await self._repo.decisions(patient_id, before=before, limit=limit, proposal_id=proposal_id)
        next_before = records[-1].decided_at if len(records) == limit else None
        return DecisionHistory(patient_id=patient_id, decisions=records, next_before=next_before)

    async def _proposal_row(self, patient_id: str, proposal_id: uuid.UUID) -> ProposalRow:
        row = await self._repo.proposal_row(patient_id, proposal_id)
        if row is None:
            raise ProposalNotFound(f"proposal {proposal_id} does not exist for this patient")
        return row

    async def _assemble(self, row: ProposalRow) -> Proposal:
        summary = (await self._repo.summaries([row]))[0]
        findings = [s.finding for s in await self._repo.findings(row.patient_id, row.proposal_id)]
        return Proposal(**summary.model_dump(), findings=findings)

    def _require_resolver(self) -> Resolver:
        if self._resolver is None:
            raise CatalogueNotActive(
                "no drug catalogue release is active: snapshots cannot be interpreted now"
            )
        return self._resolver


def _context(record: SnapshotRecord, submission: SnapshotSubmission) -> SnapshotContext:
    return SnapshotContext(submission.source, submission.kind, submission.sent_at or record.received_at)


def _status_of(drafts: list[DraftFinding]) -> ProposalStatus:
    return ProposalStatus.OPEN if any(d.state is FindingState.OPEN for d in drafts) else ProposalStatus.CLOSED


def _status_of_stored(findings: list[StoredFinding]) -> ProposalStatus:
    waiting = any(s.finding.state is FindingState.OPEN for s in findings)
    return ProposalStatus.OPEN if waiting else ProposalStatus.CLOSED


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)


def _open_finding(findings: dict[uuid.UUID, Finding], decision: FindingDecision) -> Finding:
    finding = findings.get(decision.finding_id)
    if finding is None:
        raise InvalidDecision(f"finding {decision.finding_id} is not part of this proposal")
    if finding.state is not FindingState.OPEN:
        raise FindingNotOpen(
            f"finding {finding.id} is {finding.state.value}",
            finding_id=str(finding.id),
            state=finding.state.value,
        )
    return finding


def _chosen_action(finding: Finding, decision: FindingDecision) -> ProposedAction | None:
    """The list change a decision makes: the proposed one, none, or the clinician's edit of it. An edit may
    change how, not what: it must concern the same list entry (or add a new one)."""
    if decision.decision == DecisionKind.REJECT:
        return None
    if decision.decision == DecisionKind.ACCEPT:
        return finding.action
    edited = decision.edited_action
    assert edited is not None  # FindingDecision requires it for an edit
    target = getattr(edited, "entry_id", None)
    if target is not None and target != finding.list_entry_id:
        raise InvalidDecision("an edit must concern the finding's own list entry, or add a new one")
    return edited
