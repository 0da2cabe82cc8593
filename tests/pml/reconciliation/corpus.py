"""The reconciliation corpus (tests/fixtures/reconciliation/corpus.json) and how findings are scored against
its ground truth. Shared by the corpus tests and by benchmarks/reconciliation_corpus.py.

Matching is scored on pairs (snapshot entry -> list entry): a *predicted* pair is a certain match the
reconciliation made; a *true* pair is what the corpus says the entry refers to. A predicted pair that is not
true is a wrong merge: two different things treated as one. An uncertain "possible match" is not a merge.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from loaders.fest.parser import parse_catalogue
from pml.medication_list.schemas import Entry, EntryStatus
from pml.reconciliation.evidence import SnapshotContext
from pml.reconciliation.findings import DraftFinding, classify
from pml.reconciliation.interpretation.resolver import Resolver
from pml.reconciliation.matching import match
from pml.reconciliation.pipeline import interpret_list, interpret_snapshot
from pml.reconciliation.schemas import SnapshotSubmission

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reconciliation"
CATALOGUE_PATH = FIXTURES / "catalogue.xml"
CORPUS_PATH = FIXTURES / "corpus.json"


@cache
def corpus() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
    return data


@cache
def corpus_resolver() -> Resolver:
    return Resolver(parse_catalogue(CATALOGUE_PATH))


def list_entries(patient: dict[str, Any]) -> dict[str, Entry]:
    """The patient's shared list as stored entries (built directly: the pure pipeline needs no database)."""
    entries = {}
    for version, item in enumerate(patient["list"], start=1):
        entry_id = uuid.uuid5(uuid.NAMESPACE_URL, f"pml-corpus:{patient['patient_id']}:{item['ref']}")
        status = EntryStatus(item["status"])
        entries[item["ref"]] = Entry.model_validate(
            item["entry"]
            | {"id": entry_id, "status": status, "created_version": version, "updated_version": version}
        )
    return entries


def context_of(submission: SnapshotSubmission) -> SnapshotContext:
    as_of = submission.sent_at or dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return SnapshotContext(submission.source, submission.kind, as_of)


@dataclass
class Score:
    true_pairs: int = 0
    predicted_pairs: int = 0
    correct_pairs: int = 0
    wrong_merges: list[str] = field(default_factory=list)
    missed_pairs: list[str] = field(default_factory=list)
    class_agreement: Counter[tuple[str, str]] = field(default_factory=Counter)
    class_mismatches: list[str] = field(default_factory=list)
    entries: int = 0
    snapshots: int = 0

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def class_accuracy(self) -> float:
        total = sum(self.class_agreement.values())
        agreeing = sum(n for (expected, found), n in self.class_agreement.items() if expected == found)
        return agreeing / total if total else 1.0


@dataclass(frozen=True)
class SnapshotOutcome:
    """One snapshot of one patient, reconciled: predicted pairs and findings, beside the ground truth."""

    label: str
    submission: SnapshotSubmission
    expected: dict[str, Any]
    refs: dict[uuid.UUID, str]
    pairs: dict[int, str]  # source index -> list ref, certain matches only
    findings: list[DraftFinding]

    def source_class(self, index: int) -> str | None:
        found = [f for f in self.findings if f.source_index == index]
        return found[0].finding_class.value if found else None

    def list_classes(self) -> dict[str, str]:
        return {
            self.refs[f.list_entry_id]: f.finding_class.value
            for f in self.findings
            if f.source_index is None and f.list_entry_id is not None
        }


def reconcile_snapshot(patient: dict[str, Any], number: int, resolver: Resolver) -> SnapshotOutcome:
    entries = list_entries(patient)
    refs = {entry.id: ref for ref, entry in entries.items()}
    snapshot = patient["snapshots"][number]
    submission = SnapshotSubmission.model_validate(snapshot["submission"])
    sources = interpret_snapshot(submission.entries, resolver)
    listed = interpret_list(list(entries.values()), resolver)
    result = match(sources, listed)
    findings = classify(context_of(submission), result, listed)
    pairs = {p.source.source_index or 0: refs[p.entry.entry_id] for p in result.pairs if p.entry.entry_id}
    label = f"{patient['patient_id']} {submission.source.value}/{submission.kind.value}"
    return SnapshotOutcome(label, submission, snapshot["expected"], refs, pairs, findings)


def all_outcomes(resolver: Resolver | None = None) -> list[SnapshotOutcome]:
    resolver = resolver or corpus_resolver()
    return [
        reconcile_snapshot(patient, number, resolver)
        for patient in corpus()["patients"]
        for number in range(len(patient["snapshots"]))
    ]


def score(outcomes: list[SnapshotOutcome]) -> Score:
    result = Score()
    for outcome in outcomes:
        result.snapshots += 1
        _score_entries(outcome, result)
        _score_list(outcome, result)
    return result


def _score_entries(outcome: SnapshotOutcome, result: Score) -> None:
    for index, expected in enumerate(outcome.expected["entries"]):
        result.entries += 1
        name = outcome.submission.entries[index].name
        truth, predicted = expected["refers_to"], outcome.pairs.get(index)
        result.true_pairs += truth is not None
        result.predicted_pairs += predicted is not None
        if predicted is not None and predicted == truth:
            result.correct_pairs += 1
        elif predicted is not None:
            result.wrong_merges.append(
                f"{outcome.label} #{index} {name!r}: merged with {predicted}, is {truth}"
            )
        if truth is not None and predicted != truth:
            result.missed_pairs.append(f"{outcome.label} #{index} {name!r}: should match {truth}")
        found = outcome.source_class(index) or "none"
        wanted = expected["class"] or "none"
        result.class_agreement[(wanted, found)] += 1
        if wanted != found:
            result.class_mismatches.append(
                f"{outcome.label} #{index} {name!r}: expected {wanted}, found {found}"
            )


def _score_list(outcome: SnapshotOutcome, result: Score) -> None:
    found = outcome.list_classes()
    expected: dict[str, str] = outcome.expected["list"]
    for ref in sorted(set(found) | set(expected)):
        wanted, got = expected.get(ref, "none"), found.get(ref, "none")
        result.class_agreement[(wanted, got)] += 1
        if wanted != got:
            result.class_mismatches.append(f"{outcome.label} list {ref}: expected {wanted}, found {got}")
