"""Server CPU per request, per kind of request: the quick figure to compare while working on a hot path.

    .venv/bin/python -m benchmarks.request_cost                       # fresh database, 2,000 patients
    .venv/bin/python -m benchmarks.request_cost --keep /tmp/pml-cost  # keep the prepared database ...
    .venv/bin/python -m benchmarks.request_cost --reuse /tmp/pml-cost # ... measure again, no re-seeding

It starts one `pml serve --workers 1`, a redis-server and (unless `PML_BENCH_DATABASE_URL` names a server) an
embedded PostgreSQL, then sends each kind of request from a few concurrent clients and divides the CPU the
server process used by the requests it answered. CPU per request moves far less with other load on a shared
machine than throughput does, so it is the figure to compare between two versions of the code; the full
throughput report is `benchmarks.run`. For where the CPU goes: `perf record -g -p <pid>` on the worker splits
it between the interpreter, the kernel and the C extensions, and yappi with `clock_type="cpu"` (not a
dependency) names the Python functions. py-spy samples wall time: on a busy machine it charges a worker's wait
for a core to the call just before it (typically a send that woke PostgreSQL or Redis), so it shows where
requests wait, not what they cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks import processes
from benchmarks.run import BUNDLED_EXTRACT, _pml, log, server_env, service_token
from pml.seed.bulk import bulk_seed, patient_ids
from pml.settings import Environment, Settings

LIST = "/v1/patients/{}/medication-list"
CONCURRENCY = 16


@dataclass(frozen=True)
class Cost:
    kind: str
    requests: int
    server_cpu_ms: float
    postgres_cpu_ms: float
    seconds: float

    def row(self, hello: Cost | None) -> str:
        ratio = f"{self.server_cpu_ms / hello.server_cpu_ms:.2f}x" if hello else "–"
        return (
            f"| {self.kind} | {self.requests:,} | {self.server_cpu_ms:.3f} | {ratio} | "
            f"{self.postgres_cpu_ms:.3f} | {self.requests / self.seconds:,.0f}/s |"
        )


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


async def _drive(
    kind: str,
    count: int,
    send: Callable[[httpx.AsyncClient, int], Awaitable[None]],
    client: httpx.AsyncClient,
    server: list[int],
    postgres: list[int],
) -> Cost:
    queue = iter(range(count))

    async def worker() -> None:
        for index in queue:
            await send(client, index)

    cpu_before, pg_before, started = _cpu_seconds(server), _cpu_seconds(postgres), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    seconds = time.perf_counter() - started
    server_ms = (_cpu_seconds(server) - cpu_before) * 1000 / count
    postgres_ms = (_cpu_seconds(postgres) - pg_before) * 1000 / count
    return Cost(kind, count, server_ms, postgres_ms, seconds)


def _ok(response: httpx.Response, *expected: int) -> None:
    if response.status_code not in expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:300]}"
        )


def _dose_change() -> dict[str, Any]:
    amount = random.choice(["1", "2"])
    return {
        "dose_text": f"{amount} tablett om morgenen (kostnad)",
        "dosage": {"unit": "tablett", "schedule": [{"time_of_day": "morning", "amount": amount}]},
        "reason": "dosejustering (kostnad)",
    }


async def measure(
    base_url: str,
    token: str,
    patients: list[str],
    server: list[int],
    postgres: list[int],
    redis_url: str,
    requests: int,
) -> list[Cost]:
    headers = {"Authorization": f"Bearer {token}", "X-PML-Purpose": "TREAT"}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    hot = patients[:200]
    cold = patients[200:]
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:

        async def hello(c: httpx.AsyncClient, _i: int) -> None:
            _ok(await c.get("/health/live"), 200)

        async def cached(c: httpx.AsyncClient, i: int) -> None:
            _ok(await c.get(LIST.format(hot[i % len(hot)])), 200)

        async def not_modified(c: httpx.AsyncClient, i: int) -> None:
            patient = hot[i % len(hot)]
            _ok(await c.get(LIST.format(patient), headers={"If-None-Match": versions[patient]}), 304)

        async def uncached(c: httpx.AsyncClient, i: int) -> None:
            _ok(await c.get(LIST.format(cold[i % len(cold)])), 200)

        writers = patients[-CONCURRENCY * 4 :]
        lists: dict[str, dict[str, Any]] = {}
        locks = {patient: asyncio.Lock() for patient in writers}

        async def write(c: httpx.AsyncClient, i: int) -> None:
            patient = writers[i % len(writers)]
            async with locks[patient]:
                listed = lists[patient]
                entry = next(e for e in listed["entries"] if e["status"] == "active")
                response = await c.patch(
                    f"{LIST.format(patient)}/entries/{entry['id']}",
                    json=_dose_change(),
                    headers={"If-Match": f'"{listed["version"]}"', "Idempotency-Key": uuid.uuid4().hex},
                )
                _ok(response, 200)
                lists[patient] = response.json()["medication_list"]

        for patient in hot:  # warm the hot set
            _ok(await client.get(LIST.format(patient)), 200)
        versions = {p: (await client.get(LIST.format(p))).headers["etag"] for p in hot}
        for patient in writers:
            lists[patient] = (await client.get(LIST.format(patient))).json()
        await _drive("warm-up", requests // 4, cached, client, server, postgres)
        results = [await _drive("hello-world", requests, hello, client, server, postgres)]
        results.append(await _drive("cached read", requests, cached, client, server, postgres))
        results.append(await _drive("304 not modified", requests, not_modified, client, server, postgres))
        processes.redis_flush(redis_url)
        results.append(
            await _drive("uncached read", min(requests, len(cold)), uncached, client, server, postgres)
        )
        results.append(await _drive("write (PATCH dose)", requests // 2, write, client, server, postgres))
    return results


def _prepare(database: processes.BenchDatabase, work: Path, patients: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PML_")} | {
        "PML_DATABASE_URL": database.url,
        "PML_DATA_DIR": str(work / "data"),
    }
    log("migrating, loading the bundled catalogue")
    _pml(["db", "upgrade"], env)
    _pml(["catalogue", "load", str(BUNDLED_EXTRACT), "--activate"], env)
    settings = Settings(
        environment=Environment.DEVELOPMENT, database_url=database.url, data_dir=work / "data"
    )
    log(f"seeding {patients:,} patients")
    bulk_seed(settings, database.url, count=patients, seed=2026)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000, help="requests per kind")
    parser.add_argument("--keep", type=Path, help="prepare the database here and keep it")
    parser.add_argument("--reuse", type=Path, help="a directory an earlier --keep prepared")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        if args.reuse:
            work = args.reuse
            database = processes.BenchDatabase(**json.loads((work / "database.json").read_text()))
            if database.embedded:
                raise SystemExit(
                    "--reuse needs PML_BENCH_DATABASE_URL (an embedded server is not kept running)"
                )
        else:
            work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pml-cost-")))
            work.mkdir(parents=True, exist_ok=True)
            admin = os.environ.get("PML_BENCH_DATABASE_URL")
            database = stack.enter_context(processes.bench_database(admin, work, keep=args.keep is not None))
            _prepare(database, work, args.patients)
            (work / "database.json").write_text(json.dumps(database.__dict__))
        redis, redis_url = processes.start_redis(work)
        stack.callback(redis.stop)
        server, base_url = processes.start_pml("uvicorn", 1, server_env(database, work, redis_url), work)
        stack.callback(server.stop)
        patients = list(patient_ids(args.patients, 2026))
        postgres = [database.postmaster_pid] if database.postmaster_pid else []
        costs = asyncio.run(
            measure(
                base_url,
                service_token(work / "data", role="prescriber", source="gp"),
                patients,
                [server.pid],
                postgres,
                redis_url,
                args.requests,
            )
        )
    hello = costs[0]
    print("| request | count | server CPU ms/request | vs hello-world | PostgreSQL CPU ms/request | rate |")
    print("|---|---:|---:|---:|---:|---:|")
    for cost in costs:
        print(cost.row(hello))
    return 0


if __name__ == "__main__":
    sys.exit(main())
