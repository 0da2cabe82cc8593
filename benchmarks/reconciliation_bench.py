"""Reconciliation micro-benchmark: four sources of 15 entries each reconciled against a 20-entry list, in-
process (target: <= 5 ms for all four), beside a baseline measured in the same run.

    python -m benchmarks.reconciliation_bench [--runs N] [--out benchmarks/reports/reconciliation_bench.md]

The work measured is the whole pure pipeline for each source: interpret the snapshot (resolve every name
against
the catalogue, read strengths and dose texts), interpret the list, match, classify into findings with evidence
and proposed actions. No database. Two cases:
- cold: the resolver's cache is cleared before every run, so every name is searched again (the worst case);
- warm: names seen before come from the cache, as on a running server where a patient's list is reconciled
  again and again and sources repeat the same names.
The baseline is the least a reconciliation could do: one exact dict look-up of each source entry's lower-cased
name among the list's names. The ratio says what resolution, dose reading and evidence cost on top of that.
Both cases are then run again with each phase timed on its own (interpret the list, interpret the sources,
match, classify), to show where the time goes.

Inputs are taken from the synthetic corpus (tests/fixtures/reconciliation): the list is 20 entries gathered
from its patients' lists (distinct substances), each source snapshot is 15 entries written in that source's
style.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pml.medication_list.schemas import Entry
from pml.reconciliation.evidence import SnapshotContext, resolution_view
from pml.reconciliation.findings import classify
from pml.reconciliation.interpretation.dose_text import read_dose_text
from pml.reconciliation.interpretation.medicine import clear_name_caches
from pml.reconciliation.interpretation.resolver import Resolver
from pml.reconciliation.matching import match
from pml.reconciliation.pipeline import interpret_list, interpret_snapshot
from pml.reconciliation.schemas import SnapshotEntry, SnapshotSubmission
from tests.pml.reconciliation.corpus import corpus, corpus_resolver, list_entries

TARGET_MS = 5.0
# Alternating runs of the same code on this shared machine differ by up to about this much (CPU median).
NOISE_MS = 0.1
LIST_SIZE = 20
SOURCE_SIZE = 15


def _workload() -> tuple[list[Entry], list[tuple[SnapshotContext, list[SnapshotEntry]]]]:
    """A 20-entry list of distinct substances and, for each of the four sources, 15 entries in its style."""
    listed: dict[str, Entry] = {}
    per_source: dict[str, tuple[SnapshotContext, list[SnapshotEntry]]] = {}
    for patient in corpus()["patients"]:
        for ref, entry in list_entries(patient).items():
            base = ref.split("~")[0]
            if len(listed) < LIST_SIZE and base not in listed and entry.status.value == "active":
                listed[base] = entry
        for snapshot in patient["snapshots"]:
            submission = SnapshotSubmission.model_validate(snapshot["submission"])
            context = SnapshotContext(
                submission.source, submission.kind, submission.sent_at or dt.datetime.now(dt.UTC)
            )
            _, entries = per_source.setdefault(submission.source.value, (context, []))
            entries.extend(submission.entries[: SOURCE_SIZE - len(entries)])
    sources = list(per_source.values())
    assert len(listed) == LIST_SIZE
    assert len(sources) == 4
    assert all(len(e) == SOURCE_SIZE for _c, e in sources)
    return list(listed.values()), sources


@dataclass(frozen=True)
class Samples:
    """Per-run CPU time of this process and wall time, in ms. On a shared machine wall time also counts the
    time other processes held the CPU; CPU time counts only this work, so it is the figure compared."""

    cpu: list[float]
    wall: list[float]

    def median(self) -> float:
        return statistics.median(self.cpu)


def _timed(function: Callable[[], Any], runs: int, before: Callable[[], None] = lambda: None) -> Samples:
    cpu, wall = [], []
    for _ in range(runs):
        before()
        cpu_started, wall_started = time.process_time_ns(), time.perf_counter_ns()
        function()
        cpu.append((time.process_time_ns() - cpu_started) / 1e6)
        wall.append((time.perf_counter_ns() - wall_started) / 1e6)
    return Samples(cpu, wall)


def _baseline(
    listed: list[Entry], sources: list[tuple[SnapshotContext, list[SnapshotEntry]]]
) -> Callable[[], int]:
    def run() -> int:
        names = {entry.display_name.lower(): entry for entry in listed}
        return sum((entry.name or "").lower() in names for _context, entries in sources for entry in entries)

    return run


def _reconcile_all(
    listed: list[Entry], sources: list[tuple[SnapshotContext, list[SnapshotEntry]]], resolver: Resolver
) -> Callable[[], int]:
    """The list is interpreted once; each source is interpreted, matched against it and classified."""

    def run() -> int:
        interpreted = interpret_list(listed, resolver)
        found = 0
        for context, entries in sources:
            sources_interpreted = interpret_snapshot(entries, resolver)
            found += len(classify(context, match(sources_interpreted, interpreted), interpreted))
        return found

    return run


PHASES = ("interpret the list", "interpret the sources", "match", "classify (findings, evidence)")


def _phases(
    listed: list[Entry],
    sources: list[tuple[SnapshotContext, list[SnapshotEntry]]],
    resolver: Resolver,
    runs: int,
    before: Callable[[], None] = lambda: None,
) -> dict[str, float]:
    """Median CPU ms per run of each phase of `_reconcile_all`, timed separately (the same work)."""
    samples: dict[str, list[float]] = {phase: [] for phase in PHASES}
    clock = time.process_time_ns
    for _ in range(runs):
        before()
        spent = dict.fromkeys(PHASES, 0)
        started = clock()
        interpreted = interpret_list(listed, resolver)
        spent[PHASES[0]] += clock() - started
        for context, entries in sources:
            started = clock()
            source = interpret_snapshot(entries, resolver)
            interpreted_at = clock()
            result = match(source, interpreted)
            matched_at = clock()
            classify(context, result, interpreted)
            spent[PHASES[1]] += interpreted_at - started
            spent[PHASES[2]] += matched_at - interpreted_at
            spent[PHASES[3]] += clock() - matched_at
        for phase, nanoseconds in spent.items():
            samples[phase].append(nanoseconds / 1e6)
    return {phase: statistics.median(values) for phase, values in samples.items()}


def _forget_everything(resolver: Resolver) -> None:
    resolver.clear_cache()
    read_dose_text.cache_clear()
    clear_name_caches()
    resolution_view.cache_clear()


def _release_costs(resolver: Resolver) -> tuple[float, float]:
    """What is worked out once per catalogue release, outside the timed runs: building the whole resolver
    (catalogue facts, search index), and of that the brand choice and candidate tables, in CPU ms."""
    catalogue, facts = resolver.facts.catalogue, resolver.facts
    build, tables = [], []
    for _ in range(5):
        started = time.process_time_ns()
        Resolver(catalogue)
        build.append((time.process_time_ns() - started) / 1e6)
        started = time.process_time_ns()
        facts.brand_and_candidate_tables()
        tables.append((time.process_time_ns() - started) / 1e6)
    return statistics.median(build), statistics.median(tables)


def _verdict(median: float) -> str:
    """Met or not; a median within run-to-run noise of the target is called borderline, either way."""
    verdict = "met" if median <= TARGET_MS else "NOT met"
    if abs(median - TARGET_MS) <= NOISE_MS:
        return f"{verdict} but borderline (within the ~{NOISE_MS:g} ms run-to-run noise)"
    return verdict


def _row(label: str, samples: Samples, baseline_median: float) -> str:
    median, p95 = statistics.median(samples.cpu), statistics.quantiles(samples.cpu, n=20)[18]
    wall = statistics.median(samples.wall)
    ratio = median / baseline_median
    return f"| {label} | {median:.3f} | {p95:.3f} | {wall:.3f} | {ratio:,.0f}x |"


def report(runs: int) -> str:
    resolver = corpus_resolver()
    listed, sources = _workload()
    baseline = _baseline(listed, sources)
    pipeline = _reconcile_all(listed, sources, resolver)
    pipeline()  # import-time and first-call costs out of the way
    baseline_samples = _timed(baseline, runs * 10)
    cold = _timed(pipeline, runs, before=lambda: _forget_everything(resolver))
    warm = _timed(pipeline, runs)
    cold_phases = _phases(listed, sources, resolver, runs, before=lambda: _forget_everything(resolver))
    warm_phases = _phases(listed, sources, resolver, runs)
    base = baseline_samples.median()
    findings = pipeline()
    cold_verdict, warm_verdict = _verdict(cold.median()), _verdict(warm.median())
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    build_ms, tables_ms = _release_costs(resolver)
    return "\n".join(
        [
            "# Reconciliation micro-benchmark: 4 sources x 15 entries against a 20-entry list",
            "",
            f"Generated {dt.date.today().isoformat()} by "
            f"`python -m benchmarks.reconciliation_bench --runs {runs}` (Python {platform.python_version()}, "
            f"{platform.machine()}). In-process, no database; inputs from the synthetic corpus and catalogue "
            f"({len(resolver.facts.products)} products). Each run reconciles all four sources "
            f"({4 * SOURCE_SIZE} source entries, {findings} findings). Load average during the run: {load} "
            f"on {os.cpu_count()} CPUs; on a shared machine the absolute times move with it, the ratio less.",
            "",
            "| case | CPU median ms | CPU p95 ms | wall median ms | vs baseline (CPU median) |",
            "|---|---:|---:|---:|---:|",
            _row("baseline: exact dict look-up of each name", baseline_samples, base),
            _row("reconcile, cold caches (every name searched, every dose text read)", cold, base),
            _row("reconcile, warm resolver cache", warm, base),
            "",
            f"Target <= {TARGET_MS:g} ms for the four sources: warm {warm_verdict} "
            f"({warm.median():.2f} ms CPU), cold {cold_verdict} ({cold.median():.2f} ms CPU; the cold phases "
            f"below, timed separately in the same run, add up to {sum(cold_phases.values()):.2f} ms). The "
            "baseline does no resolution, no dose reading, no matching rules and builds no evidence, so the "
            "ratio is large by construction; it shows what interpretation costs on top of a look-up, not a "
            "target.",
            "",
            "Where the time goes (median CPU ms per run of each phase, timed separately in the same run):",
            "",
            "| phase | cold | warm |",
            "|---|---:|---:|",
            *(f"| {phase} | {cold_phases[phase]:.3f} | {warm_phases[phase]:.3f} |" for phase in PHASES),
            "",
            "Cold clears, before every run, the resolver's caches (references, names, parsed names and "
            "strengths), the dose-text cache, the list-side name caches and the resolution views. What "
            "stays is what belongs to the catalogue release and is built with the resolver, outside the "
            "timed runs: the catalogue facts (canonical substances, exact substance and brand names, varenr "
            "and ATC look-ups), the search index, and per brand the products each written strength leaves "
            "(product, ATC code, dose unit) with each product's candidate name and substances. Building the "
            f"resolver takes {build_ms:.1f} ms CPU for these {len(resolver.facts.products)} products, "
            f"{tables_ms:.2f} ms of it those brand and candidate tables; it scales with the catalogue "
            "(a full FEST release, ~10 000 products, once per release).",
            "",
            "Interpretation (resolver, dose text, strengths) and matching are "
            "`pml/reconciliation/interpretation/` and `matching.py`; classify is `findings.py` and "
            "`evidence.py` (views built without validating again, as model_construct would build them; the "
            "findings' random version-4 ids drawn from one os.urandom call per snapshot). Cold name "
            "resolution is mostly exact brand and substance look-ups; the few "
            "names that need rapidfuzz (misspelt or unknown) cost 0.15-0.25 ms each here, about a third of "
            "it the catalogue-wide rival check that keeps look-alikes apart, and a full FEST catalogue "
            "(~10 000 products, against 133 here) makes that check and the search slower. The resolver's "
            "cache (per catalogue release, 8192 names) keeps repeated names warm.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reports/reconciliation_bench.md"))
    arguments = parser.parse_args()
    text = report(arguments.runs)
    arguments.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
