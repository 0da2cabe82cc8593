"""The throughput benchmark: baselines and the service, measured side by side in one run on one machine.

    .venv/bin/python -m benchmarks.run                      # the report in benchmarks/reports/throughput.md
    .venv/bin/python -m benchmarks.run --patients 2000 --duration 10 --out /tmp/quick.md   # a quick look

It starts what it needs and stops it again: a fresh database (on an embedded PostgreSQL, or on the server
`PML_BENCH_DATABASE_URL` names), the migrations, a catalogue release (a full-size SYNTHETIC FEST file by
default), 100,000 bulk-seeded patients, a redis-server and `pml serve --workers N`. Then:

1. baselines: pgbench with the service's own read and write SQL (benchmarks/pgbench_scripts.py),
   redis-benchmark GET of a list-sized value, and a hello-world endpoint on the same server with the same
   load client (locust FastHttpUser);
2. the service per scenario (cached read, uncached read, write, the realistic mix): first as fast as it
   answers (closed loop), then at half that throughput (Poisson arrivals) for the latency targets;
3. wrk against hello-world and the cached read, as a ceiling a much cheaper client reaches;
4. the hello-world and pgbench baselines again, so drift on a shared machine shows;

and writes the Markdown report (plus the raw figures as JSON next to it).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from benchmarks import baselines, loadgen, processes, report
from benchmarks.processes import REPO_ROOT, BenchDatabase, tool
from pml.db.urls import libpq_url
from pml.seed.bulk import BulkOutcome, bulk_seed, patient_ids
from pml.settings import Environment, Settings

# The per-subject rate limit is raised for benchmark runs so that it never refuses; the limiter still counts
# every request in Redis, so its cost is measured. Every simulated user also has its own token subject.
BENCH_RATE_LIMIT = 1_000_000
BUNDLED_EXTRACT = REPO_ROOT / "pml" / "data" / "fest" / "fest-utdrag-2026-09-08.xml"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    classes: tuple[str, ...]
    kind: str  # hello | read | write | mixed
    requests: tuple[str, ...] = ()  # the request names whose rate is the scenario's throughput (all if empty)
    task_starts: tuple[str, ...] = ()  # request names that begin one user task (for pacing at half rate)
    flush_cache: bool = False
    warm_hot_set: bool = False


HELLO = Scenario(
    "hello-world", ("HelloWorld",), "hello", ("hello-world: /health/live",), ("hello-world: /health/live",)
)
SCENARIOS = (
    Scenario(
        "cached read",
        ("CachedRead",),
        "read",
        ("cached read: GET list",),
        ("cached read: GET list",),
        warm_hot_set=True,
    ),
    Scenario(
        "uncached read",
        ("UncachedRead",),
        "read",
        ("uncached read: GET list",),
        ("uncached read: GET list",),
        flush_cache=True,
    ),
    Scenario(
        "write",
        ("ListWrite",),
        "write",
        ("write: PATCH entry (If-Match)",),
        ("write: PATCH entry (If-Match)", "write: first GET (setup)"),
    ),
    Scenario(
        "realistic mix",
        ("HomeCareNurse", "PrescriberReader", "PrescriberEditor", "PharmacyDispensing", "HospitalDischarge"),
        "mixed",
        task_starts=(
            "nurse: GET list (If-None-Match)",
            "nurse: changes since",
            "prescriber: GET list",
            "editor: GET list",
            "pharmacy: GET list",
            "discharge: GET list",
        ),
    ),
)


@dataclass
class Config:
    patients: int
    pgbench_patients: int
    seed: int
    workers: int
    users: int
    duration: float
    warmup: float
    load_processes: int
    pgbench_clients: int
    catalogue: str
    database_url: str | None
    server: str
    out: Path
    keep: bool
    skip_wrk: bool


@dataclass
class ScenarioResult:
    scenario: Scenario
    at_max: loadgen.LoadRun
    at_half: loadgen.LoadRun | None = None
    offered_half: float | None = None
    # List reads by cache outcome (hit, miss, not_modified) during the run at max, from the server's /metrics.
    cache_at_max: dict[str, float] = field(default_factory=dict)


@dataclass
class Results:
    config: dict[str, Any]
    started: str
    machine: dict[str, Any] = field(default_factory=dict)
    population: dict[str, Any] = field(default_factory=dict)
    pgbench: list[baselines.PgbenchResult] = field(default_factory=list)
    redis: baselines.RedisResult | None = None
    hello: list[ScenarioResult] = field(default_factory=list)
    scenarios: list[ScenarioResult] = field(default_factory=list)
    wrk: list[loadgen.WrkResult] = field(default_factory=list)
    write_statements: list[str] = field(default_factory=list)
    machine_after: dict[str, Any] = field(default_factory=dict)
    service: dict[str, Any] = field(default_factory=dict)


# -- setting up ----------------------------------------------------------------------------------------------


def _pml(args: Sequence[str], env: dict[str, str]) -> str:
    done = subprocess.run([tool("pml"), *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pml {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout + done.stderr


def _catalogue_file(kind: str, work: Path) -> Path:
    if kind == "bundled":
        return BUNDLED_EXTRACT
    path = work / "fest-synthetic.xml"
    _pml(["catalogue", "synthetic", str(path), "--scale", "1.0"], dict(os.environ))
    return path


def prepare_database(config: Config, database: BenchDatabase, work: Path, env: dict[str, str]) -> BulkOutcome:
    """Migrations, the catalogue release, and the seeded population (bulk COPY)."""
    log("migrating, loading the catalogue")
    _pml(["db", "upgrade"], env)
    _pml(["catalogue", "load", str(_catalogue_file(config.catalogue, work)), "--activate"], env)
    settings = Settings(
        environment=Environment.DEVELOPMENT, database_url=database.url, data_dir=work / "data"
    )
    total = config.patients + config.pgbench_patients
    log(f"seeding {total:,} patients with COPY")
    outcome = bulk_seed(settings, database.url, count=total, seed=config.seed)
    log(f"seeded in {outcome.seconds:.0f} s: {outcome.entries:,} entries, {outcome.changes:,} changes")
    settle_database(database.url)
    return outcome


def settle_database(url: str) -> None:
    """VACUUM and CHECKPOINT after the bulk load, as `pgbench -i` vacuums after its own load: the runs then
    measure a settled database, not autovacuum and a checkpoint catching up with a million COPYed rows on the
    same two cores. (Measured: the vacuum takes a few seconds; stalls of 40-60 ms that hit every kind of
    request together, hello-world included, were a little shorter afterwards, not gone.)"""
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            log("not allowed to CHECKPOINT here; the checkpointer will flush the vacuum's writes")
    log(f"vacuumed in {time.perf_counter() - started:.0f} s")


def server_env(database: BenchDatabase, work: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PML_")}
    return env | {
        "PML_ENVIRONMENT": "development",
        "PML_DATABASE_URL": database.url,
        "PML_REDIS_URL": redis_url,
        "PML_DATA_DIR": str(work / "data"),
        "PML_SEED_DEMO_PATIENTS": "0",
        "PML_RATE_LIMIT_PER_SECOND": str(BENCH_RATE_LIMIT),
    }


def machine_state() -> dict[str, Any]:
    import platform

    import psutil

    return {
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def versions(database_url: str) -> dict[str, str]:
    import importlib.metadata as metadata

    import psycopg

    from pml.db.urls import libpq_url

    found = {
        name: metadata.version(name)
        for name in ("fastapi", "uvicorn", "uvloop", "httptools", "sqlalchemy", "psycopg", "locust")
    }
    with psycopg.connect(libpq_url(database_url)) as conn:
        found["postgresql"] = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    for command in (["redis-server", "--version"], ["pgbench", "--version"]):
        found[command[0]] = subprocess.run(
            [tool(command[0]), command[1]], capture_output=True, text=True
        ).stdout.split("\n")[0][:80]
    return found


def git_state() -> dict[str, Any]:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True)
    return {"commit": head.stdout.strip(), "uncommitted_files": len(dirty.stdout.splitlines())}


# -- measuring -----------------------------------------------------------------------------------------------


def _tasks_per_second(run: loadgen.LoadRun, scenario: Scenario) -> float:
    return sum(run.by_name[n].rps for n in scenario.task_starts if n in run.by_name)


_CACHE_COUNTER = re.compile(r'^pml_list_cache_reads_total\{outcome="(\w+)"\}\s+([\d.e+]+)$', re.MULTILINE)


def cache_counts(base_url: str) -> dict[str, float]:
    """The server's list-read counters by cache outcome (summed over its workers), or {} without /metrics."""
    try:
        response = httpx.get(f"{base_url}/metrics", timeout=5)
    except httpx.HTTPError:
        return {}
    if response.status_code != 200:
        return {}
    return {outcome: float(value) for outcome, value in _CACHE_COUNTER.findall(response.text)}


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before.get(key, 0.0) for key in after if after[key] - before.get(key, 0.0) > 0}


HOT_SET = 1000


def warm_cache(base_url: str, patients: Sequence[str], data_dir: Path) -> None:
    """Read the hot set once, so a cached-read run measures hits rather than the cache filling up."""
    headers = {"Authorization": f"Bearer {service_token(data_dir)}", "X-PML-Purpose": "TREAT"}
    log(f"warming the cache with the {len(patients):,} hot-set lists")
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:

        def read(patient_id: str) -> None:
            client.get(f"/v1/patients/{patient_id}/medication-list").raise_for_status()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(read, patients))


def _hot_set(options: loadgen.LocustOptions) -> list[str]:
    return Path(options.env["PML_BENCH_PATIENTS_FILE"]).read_text().split()[:HOT_SET]


def run_scenario(
    scenario: Scenario, options: loadgen.LocustOptions, redis_url: str, half: bool = True
) -> ScenarioResult:
    """As fast as the service answers (closed loop), then at half that rate (Poisson arrivals)."""
    nonce = str(time.time_ns())
    if scenario.flush_cache:
        processes.redis_flush(redis_url)
    if scenario.warm_hot_set:
        warm_cache(options.host, _hot_set(options), Path(options.env["PML_DATA_DIR"]))
    log(f"{scenario.name}: as fast as it answers")
    before = cache_counts(options.host)
    at_max = loadgen.run_locust(scenario.name, scenario.classes, options, extra_env={"PML_BENCH_RUN": nonce})
    result = ScenarioResult(scenario, at_max, cache_at_max=_delta(cache_counts(options.host), before))
    tasks = _tasks_per_second(at_max, scenario)
    if half and tasks > 0:
        if scenario.flush_cache:
            processes.redis_flush(redis_url)
        result.offered_half = tasks / 2
        log(f"{scenario.name}: at half that ({tasks / 2:,.0f} tasks/s)")
        result.at_half = loadgen.run_locust(
            f"{scenario.name} (half)",
            scenario.classes,
            options,
            user_rate=tasks / 2 / options.users,
            extra_env={"PML_BENCH_RUN": nonce + "h"},
        )
    return result


def service_token(data_dir: Path, *, role: str = "nurse", source: str = "home_care") -> str:
    """One token for clients that are not simulated users (the cache warm-up, wrk, request_cost)."""
    from pml.auth.tokens import DevelopmentClaims, load_development_key, mint_token

    settings = Settings(data_dir=data_dir)
    claims = DevelopmentClaims(subject=f"bench-{role}", role=role, source=source, organisation="974703300")
    return mint_token(load_development_key(settings), claims, settings=settings)


def run_wrk(
    base_url: str, hot: Sequence[str], work: Path, groups: dict[str, list[int]]
) -> list[loadgen.WrkResult]:
    log("wrk ceiling runs")
    hello = loadgen.run_wrk(
        "hello-world", f"{base_url}/health/live", connections=32, seconds=10, cpu_groups=groups
    )
    warm_cache(base_url, hot, work / "data")
    before = cache_counts(base_url)
    cached = loadgen.run_wrk(
        "cached read",
        base_url,
        connections=32,
        seconds=10,
        cpu_groups=groups,
        patients=hot,
        token=service_token(work / "data"),
    )
    cached = dataclasses.replace(cached, cache=_delta(cache_counts(base_url), before))
    return [hello, cached]


def run_pgbench_pair(
    config: Config, url: str, prepared: baselines.PgbenchScripts, groups: dict[str, list[int]], when: str
) -> list[baselines.PgbenchResult]:
    log(f"pgbench ({when})")
    seconds = int(config.duration)
    read = baselines.run_pgbench(
        f"read ({when})",
        url,
        prepared.read,
        prepared.read_targets,
        clients=config.pgbench_clients,
        seconds=seconds,
        cpu_groups=groups,
    )
    write = baselines.run_pgbench(
        f"write ({when})",
        url,
        prepared.write,
        prepared.write_targets,
        clients=config.pgbench_clients,
        seconds=seconds,
        cpu_groups=groups,
    )
    return [read, write]


def _service_facts(base_url: str) -> dict[str, Any]:
    """What the running service says about itself: its readiness checks, and whether it has /metrics."""
    ready = httpx.get(f"{base_url}/health/ready", timeout=5)
    metrics = httpx.get(f"{base_url}/metrics", timeout=5)
    return {
        "ready": ready.json() if ready.status_code == 200 else ready.status_code,
        "metrics": metrics.status_code == 200,
    }


def measure(config: Config, stack: ExitStack, work: Path) -> Results:
    results = Results(config={k: str(v) for k, v in asdict(config).items()}, started=_now())
    results.machine = machine_state() | git_state()
    database = stack.enter_context(processes.bench_database(config.database_url, work, config.keep))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PML_")} | {
        "PML_DATABASE_URL": database.url,
        "PML_DATA_DIR": str(work / "data"),
    }
    seeded = prepare_database(config, database, work, env)
    everyone = list(patient_ids(config.patients + config.pgbench_patients, config.seed))
    population, pgbench_writers = everyone[: config.patients], everyone[config.patients :]
    patients_file = work / "patients.txt"
    patients_file.write_text("\n".join(population))
    results.population = _population(seeded, database, population)
    results.machine |= {
        "versions": versions(database.url),
        "database": "embedded" if database.embedded else "PML_BENCH_DATABASE_URL",
    }

    redis, redis_url = processes.start_redis(work)
    stack.callback(redis.stop)
    groups: dict[str, list[int]] = {
        "PostgreSQL": [database.postmaster_pid] if database.postmaster_pid else [],
        "Redis": [redis.pid],
    }
    settings = Settings(database_url=database.url, data_dir=work / "data")
    prepared = baselines.prepare_pgbench(settings, database.url, population, pgbench_writers)
    results.write_statements = [
        line for line in prepared.write.text.splitlines() if line and line[0].isupper()
    ]
    results.pgbench += run_pgbench_pair(config, database.url, prepared, groups, "before")
    log("redis-benchmark")
    results.redis = baselines.run_redis_benchmark(
        redis_url, results.population["list_bytes_median"], clients=32, requests=200_000, cpu_groups=groups
    )

    server, base_url = processes.start_pml(
        config.server, config.workers, server_env(database, work, redis_url), work
    )
    stack.callback(server.stop)
    groups = {"PML server": [server.pid], **groups}
    results.service = _service_facts(base_url)
    options = loadgen.LocustOptions(
        host=base_url,
        users=config.users,
        duration=config.duration,
        warmup=config.warmup,
        processes=config.load_processes,
        cpu_groups=groups,
        env=env | {"PML_BENCH_PATIENTS_FILE": str(patients_file), "PML_BENCH_HOT_PATIENTS": str(HOT_SET)},
    )
    results.hello.append(run_scenario(HELLO, options, redis_url))
    for scenario in SCENARIOS:
        results.scenarios.append(run_scenario(scenario, options, redis_url))
    if not config.skip_wrk:
        results.wrk = run_wrk(base_url, population[:1000], work, groups)
    results.hello.append(run_scenario(HELLO, options, redis_url, half=False))
    results.pgbench += run_pgbench_pair(config, database.url, prepared, groups, "after")
    results.machine_after = machine_state()
    return results


def _population(seeded: BulkOutcome, database: BenchDatabase, population: Sequence[str]) -> dict[str, Any]:
    return {
        "patients": len(population),
        "seeded_total": seeded.created,
        "entries": seeded.entries,
        "changes": seeded.changes,
        "seed_seconds": round(seeded.seconds, 1),
        "catalogue_release": seeded.catalogue_release,
        "list_bytes_median": baselines.typical_list_bytes(database.url, population[:500]),
    }


# -- the command ---------------------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=100_000, help="seeded patients the load uses")
    parser.add_argument("--pgbench-patients", type=int, default=5_000, help="more, written only by pgbench")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="server worker processes")
    parser.add_argument("--users", type=int, default=32, help="simulated users per run")
    parser.add_argument("--duration", type=float, default=20, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=5, help="seconds cut from the start of each run")
    parser.add_argument("--load-processes", type=int, default=1, help="locust worker processes")
    parser.add_argument("--pgbench-clients", type=int, default=8)
    parser.add_argument("--catalogue", choices=("synthetic", "bundled"), default="synthetic")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "reports" / "throughput.md")
    parser.add_argument("--keep", action="store_true", help="keep the database and work directory")
    parser.add_argument("--skip-wrk", action="store_true")
    args = parser.parse_args(argv)
    return Config(
        args.patients,
        args.pgbench_patients,
        args.seed,
        args.workers,
        args.users,
        args.duration,
        args.warmup,
        args.load_processes,
        args.pgbench_clients,
        args.catalogue,
        os.environ.get("PML_BENCH_DATABASE_URL"),
        args.server,
        args.out,
        args.keep,
        args.skip_wrk,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    processes.ensure_debian_packages(
        ("redis-server", "redis-server"), ("redis-benchmark", "redis-tools"), ("wrk", "wrk")
    )
    with ExitStack() as stack:
        work = (
            Path(tempfile.mkdtemp(prefix="pml-bench-"))
            if config.keep
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pml-bench-")))
        )
        log(f"work directory {work}")
        results = measure(config, stack, work)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    config.out.write_text(report.render(results, command=_command_line(argv)))
    config.out.with_suffix(".json").write_text(json.dumps(report.as_json(results), indent=1, default=str))
    log(f"report: {config.out}")
    return 0


def _command_line(argv: Sequence[str] | None) -> str:
    arguments = list(sys.argv[1:] if argv is None else argv)
    return " ".join([".venv/bin/python -m benchmarks.run", *arguments])


if __name__ == "__main__":
    raise SystemExit(main())
