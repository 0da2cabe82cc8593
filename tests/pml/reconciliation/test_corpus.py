"""The corpus: ≥ 30 synthetic patients, each with a GP list, a hospital admission or discharge, a home-care
list and
a pharmacy dispensing, written as those systems write. Every finding is asserted against the ground truth, and
matching is held to zero wrong merges and at least 95 % recall (benchmarks/reconciliation_corpus.py reports
it)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from pml.reconciliation.interpretation.resolver import Resolver
from pml.reconciliation.schemas import FindingClass, SnapshotSubmission
from tests.pml.reconciliation.corpus import all_outcomes, corpus, reconcile_snapshot, score

PATIENTS = corpus()["patients"]


def test_the_corpus_has_at_least_30_patients_each_with_all_four_sources() -> None:
    assert len(PATIENTS) >= 30
    for patient in PATIENTS:
        sources = {
            SnapshotSubmission.model_validate(s["submission"]).source.value for s in patient["snapshots"]
        }
        assert sources == {"gp", "hospital", "home_care", "pharmacy"}, patient["patient_id"]


def test_the_ground_truth_covers_every_finding_class_many_times() -> None:
    expected: Counter[str] = Counter()
    for patient in PATIENTS:
        for snapshot in patient["snapshots"]:
            expected.update(e["class"] for e in snapshot["expected"]["entries"] if e["class"])
            expected.update(snapshot["expected"]["list"].values())
    assert {c.value for c in FindingClass} <= set(expected)
    assert min(expected.values()) >= 10, expected


@pytest.mark.parametrize("patient", PATIENTS, ids=[p["patient_id"] for p in PATIENTS])
def test_every_snapshot_gives_the_expected_findings(patient: dict[str, Any], resolver: Resolver) -> None:
    for number, snapshot in enumerate(patient["snapshots"]):
        outcome = reconcile_snapshot(patient, number, resolver)
        found = [outcome.source_class(i) for i in range(len(snapshot["expected"]["entries"]))]
        assert found == [e["class"] for e in snapshot["expected"]["entries"]], outcome.label
        assert outcome.list_classes() == snapshot["expected"]["list"], outcome.label
        for index, expected in enumerate(snapshot["expected"]["entries"]):
            finding = next((f for f in outcome.findings if f.source_index == index), None)
            if finding is not None and expected["review"]:
                assert finding.needs_review, f"{outcome.label} #{index}"


def test_matching_never_merges_wrongly_and_finds_at_least_95_percent(resolver: Resolver) -> None:
    result = score(all_outcomes(resolver))
    assert result.wrong_merges == []
    assert result.recall >= 0.95, result.missed_pairs
    assert result.entries > 900
