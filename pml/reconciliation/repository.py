"""All SQL of reconciliation. The service speaks the domain; this module speaks PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pml.medication_list.schemas import Actor, Source
from pml.reconciliation.findings import DraftFinding
from pml.reconciliation.models import DecisionRow, FindingRow, ProposalRow, SourceSnapshotRow
from pml.reconciliation.refresh import StoredFinding
from pml.reconciliation.schemas import (
    DecisionKind,
    DecisionRecord,
    Finding,
    FindingClass,
    FindingState,
    ProposalStatus,
    ProposalSummary,
    ProposedAction,
    SnapshotKind,
    SnapshotRecord,
)


@dataclass(frozen=True, slots=True)
class NewSnapshot:
    snapshot_id: uuid.UUID
    source: Source
    kind: SnapshotKind
    actor: Actor
    sent_at: dt.datetime | None
    sender_system: str | None
    document_id: str | None
    entry_count: int
    raw_body: bytes
    content_sha256: str
    idempotency_key: str | None
    request_hash: str | None


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    record: SnapshotRecord
    raw_body: bytes
    request_hash: str | None


@dataclass(frozen=True, slots=True)
class NewProposal:
    proposal_id: uuid.UUID
    snapshot_id: uuid.UUID
    source: Source
    kind: SnapshotKind
    status: ProposalStatus
    list_version: int
    catalogue_release: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class NewDecision:
    decision_id: uuid.UUID
    proposal_id: uuid.UUID
    finding_id: uuid.UUID
    snapshot_id: uuid.UUID
    decision: DecisionKind
    finding_class: FindingClass
    action: ProposedAction | None
    actor: Actor
    policy: str | None
    note: str | None
    list_version_before: int
    list_version_after: int


def _document(raw_body: bytes) -> dict[str, Any] | None:
    """The stored body as JSON, or None when a strict parser cannot read it back (e.g. a lone surrogate escape
    the request's parser let through): the bytes stay stored either way."""
    try:
        document = orjson.loads(raw_body)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def _snapshot_record(row: SourceSnapshotRow, *, with_document: bool) -> SnapshotRecord:
    document = _document(row.raw_body) if with_document else None
    return SnapshotRecord(
        id=row.snapshot_id,
        patient_id=row.patient_id,
        source=Source(row.source),
        kind=SnapshotKind(row.kind),
        actor=Actor.model_validate(row.actor),
        received_at=row.received_at,
        sent_at=row.sent_at,
        sender_system=row.sender_system,
        document_id=row.document_id,
        entry_count=row.entry_count,
        sha256=row.content_sha256,
        document=document,
    )


def _finding(row: FindingRow) -> StoredFinding:
    finding = Finding.model_validate(
        {
            "id": row.finding_id,
            "proposal_id": row.proposal_id,
            "finding_class": row.finding_class,
            "state": row.state,
            "needs_review": row.needs_review,
            "summary": row.summary,
            "source_entry_index": row.source_entry_index,
            "list_entry_id": row.list_entry_id,
            "action": row.action,
            "evidence": row.evidence,
            "computed_at_version": row.computed_at_version,
            "decision_id": row.decision_id,
        }
    )
    return StoredFinding(finding, row.fingerprint)


def _summary(row: ProposalRow, counts: Counter[str], open_findings: int) -> ProposalSummary:
    return ProposalSummary(
        id=row.proposal_id,
        patient_id=row.patient_id,
        snapshot_id=row.snapshot_id,
        source=Source(row.source),
        kind=SnapshotKind(row.kind),
        status=ProposalStatus(row.status),
        list_version=row.list_version,
        catalogue_release=row.catalogue_release,
        created_at=row.created_at,
        updated_at=row.updated_at,
        superseded_by=row.superseded_by,
        error=row.error,
        counts=dict(counts),
        open_findings=open_findings,
    )


def _decision(row: DecisionRow) -> DecisionRecord:
    return DecisionRecord.model_validate(
        {
            "id": row.decision_id,
            "patient_id": row.patient_id,
            "proposal_id": row.proposal_id,
            "finding_id": row.finding_id,
            "snapshot_id": row.snapshot_id,
            "decision": row.decision,
            "finding_class": row.finding_class,
            "action": row.action,
            "actor": row.actor,
            "policy": row.policy,
            "note": row.note,
            "decided_at": row.decided_at,
            "list_version_before": row.list_version_before,
            "list_version_after": row.list_version_after,
        }
    )


class ReconciliationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- snapshots --------------------------------------------------------------------------------------

    async def save_snapshot(self, patient_id: str, new: NewSnapshot) -> StoredSnapshot:
        row = SourceSnapshotRow(
            patient_id=patient_id,
            snapshot_id=new.snapshot_id,
            source=new.source.value,
            kind=new.kind.value,
            actor=new.actor.model_dump(mode="json"),
            organisation=new.actor.organisation,
            sent_at=new.sent_at,
            sender_system=new.sender_system,
            document_id=new.document_id,
            entry_count=new.entry_count,
            raw_body=new.raw_body,
            content_sha256=new.content_sha256,
            idempotency_key=new.idempotency_key,
            request_hash=new.request_hash,
        )
        self._session.add(row)
        await self._session.flush()
        await self._session.refresh(row, ["received_at"])
        return StoredSnapshot(_snapshot_record(row, with_document=False), row.raw_body, row.request_hash)

    async def snapshot(self, patient_id: str, snapshot_id: uuid.UUID) -> StoredSnapshot | None:
        row = await self._session.get(SourceSnapshotRow, (patient_id, snapshot_id))
        if row is None:
            return None
        return StoredSnapshot(_snapshot_record(row, with_document=True), row.raw_body, row.request_hash)

    async def snapshot_by_key(self, patient_id: str, key: str) -> StoredSnapshot | None:
        row = await self._session.scalar(
            select(SourceSnapshotRow).where(
                SourceSnapshotRow.patient_id == patient_id, SourceSnapshotRow.idempotency_key == key
            )
        )
        if row is None:
            return None
        return StoredSnapshot(_snapshot_record(row, with_document=False), row.raw_body, row.request_hash)

    # -- proposals --------------------------------------------------------------------------------------

    async def save_proposal(self, patient_id: str, new: NewProposal) -> None:
        self._session.add(
            ProposalRow(
                patient_id=patient_id,
                proposal_id=new.proposal_id,
                snapshot_id=new.snapshot_id,
                source=new.source.value,
                kind=new.kind.value,
                status=new.status.value,
                list_version=new.list_version,
                catalogue_release=new.catalogue_release,
                error=new.error,
            )
        )
        await self._session.flush()

    async def proposal_row(self, patient_id: str, proposal_id: uuid.UUID) -> ProposalRow | None:
        row = await self._session.get(ProposalRow, (patient_id, proposal_id), populate_existing=True)
        return row

    async def update_proposal(
        self,
        patient_id: str,
        proposal_id: uuid.UUID,
        *,
        status: ProposalStatus,
        list_version: int | None = None,
        superseded_by: uuid.UUID | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status.value, "updated_at": func.clock_timestamp()}
        if list_version is not None:
            values["list_version"] = list_version
        if superseded_by is not None:
            values["superseded_by"] = superseded_by
        await self._session.execute(
            update(ProposalRow)
            .where(ProposalRow.patient_id == patient_id, ProposalRow.proposal_id == proposal_id)
            .values(**values)
        )

    async def proposals_of_snapshot(self, patient_id: str, snapshot_id: uuid.UUID) -> list[ProposalRow]:
        rows = await self._session.scalars(
            select(ProposalRow)
            .where(ProposalRow.patient_id == patient_id, ProposalRow.snapshot_id == snapshot_id)
            .order_by(ProposalRow.created_at.desc())
        )
        return list(rows)

    async def open_proposals(
        self, patient_id: str, *, source: Source | None = None, kind: SnapshotKind | None = None
    ) -> list[ProposalRow]:
        query = select(ProposalRow).where(
            ProposalRow.patient_id == patient_id, ProposalRow.status == ProposalStatus.OPEN.value
        )
        if source is not None:
            query = query.where(ProposalRow.source == source.value)
        if kind is not None:
            query = query.where(ProposalRow.kind == kind.value)
        return list(await self._session.scalars(query.order_by(ProposalRow.created_at)))

    async def summaries(self, rows: Sequence[ProposalRow]) -> list[ProposalSummary]:
        if not rows:
            return []
        patient_id = rows[0].patient_id
        counted = await self._session.execute(
            select(FindingRow.proposal_id, FindingRow.finding_class, FindingRow.state, func.count())
            .where(
                FindingRow.patient_id == patient_id,
                FindingRow.proposal_id.in_([row.proposal_id for row in rows]),
                FindingRow.state != FindingState.SUPERSEDED.value,
            )
            .group_by(FindingRow.proposal_id, FindingRow.finding_class, FindingRow.state)
        )
        counts: dict[uuid.UUID, Counter[str]] = {row.proposal_id: Counter() for row in rows}
        open_counts: Counter[uuid.UUID] = Counter()
        for proposal_id, finding_class, state, number in counted:
            counts[proposal_id][finding_class] += number
            if state == FindingState.OPEN.value:
                open_counts[proposal_id] += number
        return [_summary(row, counts[row.proposal_id], open_counts[row.proposal_id]) for row in rows]

    # -- findings ---------------------------------------------------------------------------------------

    async def findings(self, patient_id: str, proposal_id: uuid.UUID) -> list[StoredFinding]:
        rows = await self._session.scalars(
            select(FindingRow)
            .where(FindingRow.patient_id == patient_id, FindingRow.proposal_id == proposal_id)
            .order_by(FindingRow.position)
        )
        return [_finding(row) for row in rows]

    async def add_findings(
        self,
        patient_id: str,
        proposal_id: uuid.UUID,
        drafts: Iterable[DraftFinding],
        *,
        first_position: int,
        version: int,
    ) -> None:
        values = [
            {
                "patient_id": patient_id,
                "finding_id": draft.id,
                "proposal_id": proposal_id,
                "position": position,
                "finding_class": draft.finding_class.value,
                "state": draft.state.value,
                "needs_review": draft.needs_review,
                "summary": draft.summary,
                "source_entry_index": draft.source_index,
                "list_entry_id": draft.list_entry_id,
                "action": draft.action.model_dump(mode="json") if draft.action else None,
                "evidence": draft.evidence.model_dump(mode="json"),
                "fingerprint": draft.fingerprint,
                "computed_at_version": version,
            }
            for position, draft in enumerate(drafts, start=first_position)
        ]
        if values:
            await self._session.execute(insert(FindingRow), values)

    async def set_finding_states(
        self,
        patient_id: str,
        finding_ids: Sequence[uuid.UUID],
        state: FindingState,
        decision_id: uuid.UUID | None = None,
    ) -> None:
        if not finding_ids:
            return
        values: dict[str, Any] = {"state": state.value}
        if decision_id is not None:
            values["decision_id"] = decision_id
        await self._session.execute(
            update(FindingRow)
            .where(FindingRow.patient_id == patient_id, FindingRow.finding_id.in_(finding_ids))
            .values(**values)
        )

    # -- decisions --------------------------------------------------------------------------------------

    async def add_decision(self, patient_id: str, new: NewDecision) -> DecisionRecord:
        row = DecisionRow(
            patient_id=patient_id,
            decision_id=new.decision_id,
            proposal_id=new.proposal_id,
            finding_id=new.finding_id,
            snapshot_id=new.snapshot_id,
            decision=new.decision.value,
            finding_class=new.finding_class.value,
            action=new.action.model_dump(mode="json") if new.action else None,
            actor=new.actor.model_dump(mode="json"),
            policy=new.policy,
            note=new.note,
            list_version_before=new.list_version_before,
            list_version_after=new.list_version_after,
        )
        self._session.add(row)
        await self._session.flush()
        await self._session.refresh(row, ["decided_at"])
        return _decision(row)

    async def decisions(
        self, patient_id: str, *, before: dt.datetime | None, limit: int, proposal_id: uuid.UUID | None = None
    ) -> list[DecisionRecord]:
        query = select(DecisionRow).where(DecisionRow.patient_id == patient_id)
        if before is not None:
            query = query.where(DecisionRow.decided_at < before)
        if proposal_id is not None:
            query = query.where(DecisionRow.proposal_id == proposal_id)
        rows = await self._session.scalars(
            query.order_by(DecisionRow.decided_at.desc(), DecisionRow.decision_id).limit(limit)
        )
        return [_decision(row) for row in rows]
