"""The pure core of a reconciliation: interpret both sides, match, classify. No database, no clock: the same
inputs give the same findings, which is what lets a stale proposal be recomputed and compared."""

from __future__ import annotations

from collections.abc import Sequence

from pml.medication_list.schemas import Entry
from pml.reconciliation.evidence import SnapshotContext
from pml.reconciliation.findings import DraftFinding, classify
from pml.reconciliation.interpretation.medicine import Medicine, from_list_entry, from_snapshot_entry
from pml.reconciliation.interpretation.resolver import Resolver
from pml.reconciliation.matching import MatchResult, match
from pml.reconciliation.schemas import SnapshotEntry


def interpret_snapshot(entries: Sequence[SnapshotEntry], resolver: Resolver) -> list[Medicine]:
    return [from_snapshot_entry(index, entry, resolver) for index, entry in enumerate(entries)]


def interpret_list(entries: Sequence[Entry], resolver: Resolver) -> list[Medicine]:
    return [from_list_entry(entry, resolver) for entry in entries]


def match_snapshot(sources: list[Medicine], listed: list[Medicine]) -> MatchResult:
    return match(sources, listed)


def reconcile(
    context: SnapshotContext, entries: Sequence[SnapshotEntry], current: Sequence[Entry], resolver: Resolver
) -> list[DraftFinding]:
    """Every finding of one snapshot against one version of the list."""
    sources = interpret_snapshot(entries, resolver)
    listed = interpret_list(current, resolver)
    return classify(context, match(sources, listed), listed)
