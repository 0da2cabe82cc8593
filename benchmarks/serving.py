"""uvicorn (uvloop + httptools, what `pml serve` runs) against granian, on the same machine, database, Redis,
population, worker count and load, so the choice of server is made by measurement.

    .venv/bin/pip install granian            # only for this measurement; not a dependency of PML
    .venv/bin/python -m benchmarks.serving   # writes benchmarks/serving.md

Each round starts one server, measures hello-world and the cached list read with locust (the benchmark's
client) and with wrk (a far cheaper client, so the server rather than the client is the limit), and stops it.
Rounds alternate (uvicorn, granian, uvicorn, granian, ...) so drift on a shared machine hits both alike; the
report gives every round and the median per server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import loadgen, processes, run
from benchmarks.processes import REPO_ROOT

SERVERS = ("uvicorn", "granian")
# Granian replaces uvicorn only if it is clearly faster on both endpoints: anything less is noise on a shared
# machine, and not worth a second server stack.
WIN_MARGIN = 1.10


@dataclass
class Round:
    server: str
    number: int
    figures: dict[str, float] = field(default_factory=dict)
    cpu_other: float = 0.0


MEASURES = (
    ("locust hello-world", "req/s"),
    ("locust cached read", "req/s"),
    ("wrk hello-world", "req/s"),
    ("wrk cached read", "req/s"),
    ("locust hello-world p99", "ms"),
    ("locust cached read p99", "ms"),
    ("wrk cached read p99", "ms"),
    # Server CPU per request: what a request costs the server, which other load on the machine moves far
    # less than throughput. Lower is better.
    ("server CPU per hello-world", "ms"),
    ("server CPU per cached read", "ms"),
)


def measure_round(
    server: str,
    number: int,
    config: run.Config,
    env: dict[str, str],
    work: Path,
    population: list[str],
    groups: dict[str, list[int]],
) -> Round:
    child, base_url = processes.start_pml(server, config.workers, env, work)
    try:
        groups = {"PML server": [child.pid], **groups}
        options = loadgen.LocustOptions(
            host=base_url,
            users=config.users,
            duration=config.duration,
            warmup=config.warmup,
            processes=config.load_processes,
            cpu_groups=groups,
            env=env
            | {
                "PML_BENCH_PATIENTS_FILE": str(work / "patients.txt"),
                "PML_BENCH_HOT_PATIENTS": str(run.HOT_SET),
            },
        )
        hello = loadgen.run_locust("hello", run.HELLO.classes, options)
        run.warm_cache(base_url, population[: run.HOT_SET], work / "data")
        cached = loadgen.run_locust("cached", ("CachedRead",), options)
        wrk = run.run_wrk(base_url, population[:1000], work, groups)
    finally:
        child.stop()
    result = Round(server, number, cpu_other=max(hello.cpu.get("other", 0.0), cached.cpu.get("other", 0.0)))
    result.figures = {
        "locust hello-world": hello.by_name["hello-world: /health/live"].rps,
        "locust cached read": cached.by_name["cached read: GET list"].rps,
        "wrk hello-world": wrk[0].rps,
        "wrk cached read": wrk[1].rps,
        "locust hello-world p99": hello.by_name["hello-world: /health/live"].p99,
        "locust cached read p99": cached.by_name["cached read: GET list"].p99,
        "wrk cached read p99": wrk[1].p99,
        "server CPU per hello-world": _cpu_ms(hello, "hello-world: /health/live"),
        "server CPU per cached read": _cpu_ms(cached, "cached read: GET list"),
    }
    return result


def _cpu_ms(run_: loadgen.LoadRun, name: str) -> float:
    cpus = os.cpu_count() or 1
    return 1000 * run_.cpu.get("PML server", 0.0) * cpus / run_.by_name[name].rps


def median(rounds: Sequence[Round], server: str, measure: str) -> float:
    return statistics.median(r.figures[measure] for r in rounds if r.server == server)


def decision(rounds: Sequence[Round]) -> tuple[bool, str]:
    """granian wins only with WIN_MARGIN more throughput on every figure and no more CPU per request."""
    throughputs = [m for m, unit in MEASURES if unit == "req/s"]
    costs = [m for m, _ in MEASURES if m.startswith("server CPU")]
    ratios = {m: median(rounds, "granian", m) / median(rounds, "uvicorn", m) for m in throughputs + costs}
    wins = all(ratios[m] >= WIN_MARGIN for m in throughputs) and all(ratios[m] <= 1 for m in costs)
    text = ", ".join(f"{m} {ratio:.2f}x" for m, ratio in ratios.items())
    return wins, text


def _decimals(measure: str, unit: str) -> int:
    return 0 if unit == "req/s" else 2 if measure.startswith("server CPU") else 1


def render(rounds: Sequence[Round], config: run.Config, command: str, machine: dict[str, object]) -> str:
    header = "| round | server | " + " | ".join(f"{m} ({u})" for m, u in MEASURES) + " | other CPU |"
    lines = [header, "|" + "---|" * (len(MEASURES) + 3)]
    for r in rounds:
        cells = [f"{r.figures[m]:,.{_decimals(m, u)}f}" for m, u in MEASURES]
        lines.append(f"| {r.number} | {r.server} | " + " | ".join(cells) + f" | {100 * r.cpu_other:.0f}% |")
    for server in SERVERS:
        cells = [f"**{median(rounds, server, m):,.{_decimals(m, u)}f}**" for m, u in MEASURES]
        lines.append(f"| median | {server} | " + " | ".join(cells) + " | |")
    wins, ratios = decision(rounds)
    verdict = (
        f"**granian is faster by at least {WIN_MARGIN:.2f}x on every throughput figure and costs no more CPU "
        "per request**: worth adopting."
        if wins
        else f"**Keep uvicorn** (uvloop + httptools): granian is not faster by {WIN_MARGIN:.2f}x on every "
        "throughput figure at no more CPU per request, and a second server stack is not worth less than that."
    )
    return f"""# Serving: uvicorn vs granian

Generated by `{command}` ({machine.get("at")}); {machine.get("cpus")} CPUs, load average
{machine.get("load_average")} at the start. The machine is shared: the "other CPU" column is the share of all
CPU used by processes this measurement did not start, during the noisier of the two locust runs of the round.

Same database ({config.patients:,} bulk-seeded patients), same Redis, `--workers {config.workers}`, same
load: locust FastHttpUser ({config.users} users, closed loop, {config.duration:.0f} s runs with the first
{config.warmup:.0f} s cut) and wrk (2 threads, 32 connections, 10 s). Hello-world is `/health/live`; the
cached read is the full list read of a hot set of 1,000 patients (served from the Redis cache after warm-up).
uvicorn runs as `pml serve` does (uvloop, httptools, no access log); granian {_granian_version()} runs
`--interface asgi --loop uvloop --no-ws --no-access-log`.

{chr(10).join(lines)}

granian / uvicorn, medians: {ratios}.

Decision: {verdict}
"""


def _granian_version() -> str:
    import importlib.metadata as metadata

    try:
        return metadata.version("granian")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per server")
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "serving.md")
    args = parser.parse_args(argv)
    config = run.parse_args(
        [
            "--patients",
            str(args.patients),
            "--pgbench-patients",
            "0",
            "--duration",
            str(args.duration),
            "--warmup",
            "4",
            "--catalogue",
            "synthetic",
        ]
    )
    processes.tool("granian")  # fail early: `pip install granian` into the venv for this measurement
    machine = run.machine_state()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pml-serving-")))
        database = stack.enter_context(processes.bench_database(config.database_url, work, keep=False))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PML_")} | {
            "PML_DATABASE_URL": database.url,
            "PML_DATA_DIR": str(work / "data"),
        }
        run.prepare_database(config, database, work, env)
        from pml.seed.bulk import patient_ids

        population = list(patient_ids(config.patients, config.seed))
        (work / "patients.txt").write_text("\n".join(population))
        redis, redis_url = processes.start_redis(work)
        stack.callback(redis.stop)
        server_env = run.server_env(database, work, redis_url)
        groups = {
            "PostgreSQL": [database.postmaster_pid] if database.postmaster_pid else [],
            "Redis": [redis.pid],
        }
        rounds = []
        for number in range(1, args.rounds + 1):
            for server in SERVERS if number % 2 else reversed(SERVERS):
                run.log(f"round {number}: {server}")
                rounds.append(measure_round(server, number, config, server_env, work, population, groups))
    command = " ".join([".venv/bin/python -m benchmarks.serving", *(sys.argv[1:] if argv is None else argv)])
    args.out.write_text(render(rounds, config, command, machine))
    run.log(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
