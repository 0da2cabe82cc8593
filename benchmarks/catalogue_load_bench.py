"""Catalogue DB load benchmark: loading a full-size SYNTHETIC FEST file into PostgreSQL (what
`pml catalogue load` does), against a bare iterparse pass over the same file, in one run.

    python -m benchmarks.catalogue_load_bench [--scale F] [--seed N] [--rounds N] [--out FILE]

Every measurement runs in a child process of its own, so its peak RSS (ru_maxrss) is its own, and the passes
alternate round by round, so a shared machine's changing load hits the baseline and the load alike; the best
round of each pass counts. Every load goes into a fresh database built by the real migrations, on an embedded
PostgreSQL started the way tests/support/servers.py starts it (or on PML_TEST_DATABASE_URL's server). The
PostgreSQL server's own memory is not in the loader's RSS.

On a shared machine wall times swing with other people's work, so CPU seconds are reported too: the child's
own (user + system, writer thread included) and, on the embedded server, PostgreSQL's for the load (its
backends, reaped by the postmaster, plus its background writers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from loaders.fest import FestReader
from loaders.fest.parser import ENTRY_TAGS

# pml, SQLAlchemy and the test support are imported where used, so the `bare` and `stream` children's peak
# RSS is not inflated by modules they never use.

REPO_ROOT = Path(__file__).resolve().parents[1]
LOAD_TARGET_RATIO = 3.0
RSS_TARGET_MB = 1024.0
RECORD_TABLES = (
    "catalogue_product", "catalogue_package", "catalogue_substance", "catalogue_substance_strength",
    "catalogue_swap_group", "catalogue_interaction", "catalogue_not_assessed",
)  # fmt: skip

# -- what each child process does ----------------------------------------------------------------------------


def _bare(path: str, _url: str) -> int:
    """The least a streaming reader can do: iterparse the same entries, clear and unlink them."""
    count = 0
    events = etree.iterparse(path, events=("end",), tag=ENTRY_TAGS, resolve_entities=False, no_network=True)
    for _event, element in events:
        count += 1
        element.clear()
        parent = element.getparent()  # as the reader's own _release_memory does
        while parent is not None and element.getprevious() is not None:
            del parent[0]
    return count


def _stream(path: str, _url: str) -> int:
    """The FEST reader alone, records consumed and dropped (the loader's parsing share)."""
    return sum(1 for _record in FestReader(path).records())


def _load(path: str, url: str) -> int:
    from pml.catalogue.loader import load_release

    return load_release(url, FestReader(path)).records


def _compile(_path: str, url: str) -> int:
    """What an API node does at start-up and after an activation: read the release's rows and compile them."""
    from pml.catalogue.compiled import compile_release
    from pml.catalogue.repository import ReleaseRepository
    from pml.catalogue.service import CatalogueService
    from pml.db.engine import Database
    from pml.settings import Settings

    async def read_and_compile() -> int:
        database = Database.from_settings(Settings(database_url=url), url)
        try:
            async with database.read_transaction() as session:
                service = CatalogueService(ReleaseRepository(session))
                release = (await service.releases()).releases[0]
                rows = await service.records(release)
        finally:
            await database.dispose()
        return len(compile_release(release, rows).catalogue.products)

    return asyncio.run(read_and_compile())


CHILD_TASKS: dict[str, Callable[[str, str], int]] = {
    "bare": _bare, "stream": _stream, "load": _load, "compile": _compile,
}  # fmt: skip


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _import_pml() -> None:
    """Imported before the clock starts: importing is start-up, not loading. (The `bare` and `stream` children
    never import pml, so their peak RSS stays theirs.)"""
    import pml.catalogue.compiled
    import pml.catalogue.loader
    import pml.catalogue.service
    import pml.db.engine  # noqa: F401


def _child(task: str, path: str, url: str) -> None:
    if task in ("load", "compile"):
        _import_pml()
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    count = CHILD_TASKS[task](path, url)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_mb, "count": count}))


@dataclass(frozen=True)
class PostgresCpu:
    """CPU seconds the embedded PostgreSQL has used so far: the postmaster's reaped children (finished
    backends) plus its live processes (background writers, and backends still running)."""

    postmaster_pid: int | None

    def total(self) -> float | None:
        if self.postmaster_pid is None:
            return None
        import psutil  # type: ignore[import-untyped]  # no stubs among the dev dependencies

        postmaster = psutil.Process(self.postmaster_pid)
        times = postmaster.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in postmaster.children(recursive=True):
            try:
                child_times = child.cpu_times()
            except psutil.NoSuchProcess:  # exited since listed: its time is in the postmaster's children now
                continue
            total += child_times.user + child_times.system
        return float(total)


def _in_child(task: str, path: Path, url: str = "", postgres: PostgresCpu | None = None) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.catalogue_load_bench", "--child", task, str(path), url]
    before = postgres.total() if postgres else None
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO_ROOT)
    result: dict[str, float] = json.loads(output.stdout.strip().splitlines()[-1])
    if postgres is not None and before is not None:
        time.sleep(0.5)  # the backend exits after the child closes its connection; let the postmaster reap it
        result["postgres_cpu_seconds"] = (postgres.total() or before) - before
    return result


# -- the run -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Passes:
    best: dict[str, dict[str, float]]  # per pass, its fastest run
    runs: dict[str, list[dict[str, float]]]
    last_database: str

    def round_ratios(self) -> list[float]:
        """Each round's load against the bare pass run just before it."""
        pairs = zip(self.runs["load"], self.runs["bare"], strict=True)
        return [load["seconds"] / bare["seconds"] for load, bare in pairs]

    def median(self, task: str, figure: str) -> float:
        return statistics.median(run[figure] for run in self.runs[task])


def _passes(path: Path, admin_url: str, rounds: int, postgres: PostgresCpu) -> Passes:
    """Passes interleaved round by round; every load into a fresh database."""
    from tests.support.servers import create_migrated_database

    runs: dict[str, list[dict[str, float]]] = {"bare": [], "stream": [], "load": []}
    url = ""
    for _ in range(rounds):
        runs["bare"].append(_in_child("bare", path))
        runs["stream"].append(_in_child("stream", path))
        url = create_migrated_database(admin_url, prefix="pml_bench")
        runs["load"].append(_in_child("load", path, url, postgres))
    best = {task: min(results, key=lambda run: run["seconds"]) for task, results in runs.items()}
    return Passes(best, runs, url)


def _table_sizes(url: str) -> tuple[int, float]:
    from tests.support.catalogue import query

    rows = sum(query(url, f"SELECT count(*) FROM {table}")[0][0] for table in RECORD_TABLES)  # noqa: S608
    size = sum(query(url, "SELECT pg_total_relation_size(%s)", table)[0][0] for table in RECORD_TABLES)
    return rows, size / 1e6


def _reload_seconds(path: Path, url: str) -> float:
    from pml.catalogue.loader import load_release

    started = time.perf_counter()
    outcome = load_release(url, FestReader(path))
    assert not outcome.created, "the same file twice must be a no-op"
    return time.perf_counter() - started


def _machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; load average at "
        f"the end {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} (a shared machine: absolute times are noisy, the "
        "ratio is measured side by side in the same run)"
    )


def _verdict(ok: bool) -> str:
    return "meets target" if ok else "**misses target**"


def _wall_section(passes: Passes, rounds: int) -> str:
    best = passes.best
    load, bare, stream = best["load"], best["bare"], best["stream"]
    ratio = load["seconds"] / bare["seconds"]
    ratios = passes.round_ratios()
    rows = "\n".join(
        f"| {task} | {run['seconds']:.2f} s | {passes.median(task, 'seconds'):.2f} s "
        f"| {run['peak_rss_mb']:.0f} MB |"
        for task, run in best.items()
    )
    return f"""## Wall time (each pass in its own child process, {rounds} rounds, passes interleaved)

| pass | best | median | peak RSS |
|---|---|---|---|
{rows}

- `bare`: iterparse over the same `Oppf*` entries, clear and unlink, nothing else (the baseline).
- `stream`: the FEST reader alone, records consumed and dropped (the parsing share of a load).
- `load`: `load_release()`, as `pml catalogue load` runs it: hash the file, parse, COPY every record into a
  fresh migrated database in batches on a writer thread, mark the release loaded, commit.

Best load vs best bare pass: **{ratio:.2f}x** (target <= {LOAD_TARGET_RATIO:.0f}x:
{_verdict(ratio <= LOAD_TARGET_RATIO)}). Each round's load against the bare pass just before it:
{", ".join(f"{r:.2f}x" for r in ratios)} (median {statistics.median(ratios):.2f}x). The reader alone is
{stream["seconds"] / bare["seconds"]:.2f}x the bare pass (best against best). Throughput
{load["count"] / load["seconds"]:,.0f} records/s. Loader peak RSS **{load["peak_rss_mb"]:.0f} MB** (target
<= {RSS_TARGET_MB:.0f} MB: {_verdict(load["peak_rss_mb"] <= RSS_TARGET_MB)}).
"""


def _cpu_section(passes: Passes) -> str:
    bare = passes.median("bare", "cpu_seconds")
    stream = passes.median("stream", "cpu_seconds")
    loader = passes.median("load", "cpu_seconds")
    if not all("postgres_cpu_seconds" in run for run in passes.runs["load"]):
        postgres_line = "PostgreSQL's CPU is not measured on a configured (non-embedded) server."
    else:
        postgres = passes.median("load", "postgres_cpu_seconds")
        larger = max(loader, postgres) / bare
        postgres_line = (
            f"PostgreSQL's CPU for the load: {postgres:.2f} s ({postgres / bare:.2f}x). Loader and server "
            f"together {(loader + postgres) / bare:.2f}x; they run side by side (COPY on a writer thread), "
            "so with a free core for the server the wall time approaches the larger of the two, "
            f"**{larger:.2f}x** the bare pass, plus the last batches."
        )
    return f"""## CPU time (median of the rounds; steadier than wall time on a shared machine)

Bare pass {bare:.2f} s; reader alone {stream:.2f} s ({stream / bare:.2f}x); loader process {loader:.2f} s
({loader / bare:.2f}x, the reader's share included). {postgres_line}
"""


def _report(
    *, scale: float, rounds: int, size_mb: float, passes: Passes, compiled: dict[str, float], rows: int,
    table_mb: float, reload_s: float,
) -> str:  # fmt: skip
    return f"""# Catalogue DB load benchmark

Generated by `python -m benchmarks.catalogue_load_bench --scale {scale} --rounds {rounds}` on a SYNTHETIC
FEST file ({size_mb:.1f} MB, {int(passes.best["load"]["count"]):,} records of the kinds PML keeps). Not
clinical data.

Machine: {_machine()}.

{_wall_section(passes, rounds)}
{_cpu_section(passes)}
## In PostgreSQL

{rows:,} record rows, {table_mb:.0f} MB with indexes. Loading the same file again (same sha256, a no-op that
names the existing release) takes {reload_s:.2f} s: the file is hashed, nothing is parsed.

## An API node picking the release up

Reading the release's rows back and compiling the interaction index, the name search and the look-up maps
(what each API process does at start-up and after an activation, in a worker thread):
{compiled["seconds"]:.2f} s wall, {compiled["cpu_seconds"]:.2f} s CPU, peak RSS
{compiled["peak_rss_mb"]:.0f} MB for that process.
"""


def _postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    return int(pid_file.read_text().splitlines()[0]) if pid_file.exists() else None


def run(scale: float, seed: int, rounds: int, out: Path) -> str:
    from loaders.fest.synthetic import write_synthetic_fest
    from tests.support.servers import admin_database_url

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fest-synthetic.xml"
        write_synthetic_fest(path, seed=seed, scale=scale)
        embedded = Path(directory) / "embedded"
        admin_url, server = admin_database_url(embedded)
        try:
            postgres = PostgresCpu(_postmaster_pid(embedded) if server is not None else None)
            passes = _passes(path, admin_url, rounds, postgres)
            compiled = _in_child("compile", path, passes.last_database)
            rows, table_mb = _table_sizes(passes.last_database)
            report = _report(
                scale=scale, rounds=rounds, size_mb=path.stat().st_size / 1e6, passes=passes,
                compiled=compiled, rows=rows, table_mb=table_mb,
                reload_s=_reload_seconds(path, passes.last_database),
            )  # fmt: skip
        finally:
            if server is not None:
                server.cleanup()  # type: ignore[attr-defined]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reports/catalogue_load.md"))
    parser.add_argument("--child", nargs=3, metavar=("TASK", "FILE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    print(run(args.scale, args.seed, args.rounds, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
