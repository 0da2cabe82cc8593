"""Re-evaluating a proposal against a newer list version, in place.

A proposal is stored against the list version it was computed on. When the list has moved (a clinician's own
accepted findings, or another writer), the snapshot is reconciled again against the current list and the two
sets of findings are merged so that what still holds keeps its id and its decision:

- a recomputed finding with the same fingerprint as a stored one is the same finding: the stored one stays
  (open stays open, a rejection stays a rejection, so nobody decides the same thing twice);
- a recomputed finding that proposes nothing and concerns an entry a decision already dealt with is that
  decision's effect (an accepted "new in source" now shows as "unchanged"): it is not added;
- anything else recomputed is new and is added;
- a stored open or informational finding that was not recomputed no longer holds: it is superseded.
Decided findings are never superseded: they are history.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from pml.reconciliation.findings import DraftFinding
from pml.reconciliation.schemas import DECIDED_STATES, Finding, FindingState


@dataclass(frozen=True, slots=True)
class StoredFinding:
    finding: Finding
    fingerprint: str


@dataclass(slots=True)
class RefreshPlan:
    supersede: list[uuid.UUID] = field(default_factory=list)
    add: list[DraftFinding] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return bool(self.supersede or self.add)


def _concerns_same_entry(draft: DraftFinding, stored: Finding) -> bool:
    if draft.source_index is not None and draft.source_index == stored.source_entry_index:
        return True
    return draft.list_entry_id is not None and draft.list_entry_id == stored.list_entry_id


def plan_refresh(existing: Sequence[StoredFinding], recomputed: Sequence[DraftFinding]) -> RefreshPlan:
    live = [s for s in existing if s.finding.state is not FindingState.SUPERSEDED]
    known = {s.fingerprint for s in live}
    decided = [s.finding for s in live if s.finding.state in DECIDED_STATES]
    plan = RefreshPlan()
    fresh = {draft.fingerprint for draft in recomputed}
    for draft in recomputed:
        if draft.fingerprint in known:
            continue
        if draft.action is None and any(_concerns_same_entry(draft, d) for d in decided):
            continue
        plan.add.append(draft)
    plan.supersede = [
        s.finding.id
        for s in live
        if s.finding.state in (FindingState.OPEN, FindingState.INFORMATIONAL) and s.fingerprint not in fresh
    ]
    return plan
