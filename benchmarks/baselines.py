"""Baselines measured in the same run as the service: pgbench with the service's own SQL, and redis-benchmark
GET of a value the size of a typical list response."""

from __future__ import annotations

import asyncio
import csv
import io
import math
import re
import statistics
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from benchmarks import pgbench_scripts as scripts
from benchmarks.loadgen import _quantile
from benchmarks.processes import CpuSampler, tool
from pml.db.urls import libpq_url
from pml.settings import Settings


@dataclass
class PgbenchResult:
    label: str
    clients: int
    tps: float
    p50: float
    p95: float
    p99: float
    failed: int
    statement_ms: list[tuple[float, str]]
    lookup_share: float
    script: str
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def tps_without_lookup(self) -> float:
        """TPS had the transaction not begun with the helper look-up (closed loop: TPS scales with 1/latency).
        An estimate, and the stricter baseline: ratios are taken against it."""
        return self.tps / (1 - self.lookup_share) if self.lookup_share < 1 else math.nan


@dataclass(frozen=True, slots=True)
class PgbenchScripts:
    read: scripts.Script
    write: scripts.Script
    read_targets: int
    write_targets: int


def prepare_pgbench(
    settings: Settings, url: str, readers: Sequence[str], writers: Sequence[str]
) -> PgbenchScripts:
    """Fill the helper tables and record the service's read and write into pgbench scripts."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(scripts.CREATE_TARGETS)
        conn.execute(scripts.FILL_READ_TARGETS, (list(readers),))
        conn.execute(scripts.FILL_WRITE_TARGETS, (list(writers),))
        write_targets = conn.execute(scripts.COUNT_WRITE_TARGETS).fetchone()
        conn.execute("ANALYZE")
    read = scripts.read_script(asyncio.run(scripts.record_read(settings, url, readers[0])), readers[0])
    captured, known = asyncio.run(scripts.record_write(settings, url, writers[0]))
    return PgbenchScripts(
        read,
        scripts.write_script(captured, known),
        len(readers),
        int(write_targets[0]) if write_targets else 0,
    )


def _statement_latencies(output: str) -> list[tuple[float, str]]:
    """`pgbench -r`: one line per script line, latency in ms first."""
    lines = output.split("statement latencies in milliseconds", 1)[-1].splitlines()[1:]
    parsed = []
    for line in lines:
        match = re.match(r"^\s+([\d.]+)\s+(?:\d+\s+)?(.*)$", line)
        if match:
            parsed.append((float(match.group(1)), match.group(2).strip()))
    return parsed


def _transaction_latencies(log_dir: Path) -> list[float]:
    """From `pgbench -l`: the third field of each line is the transaction's latency in microseconds."""
    latencies = []
    for path in log_dir.glob("pgbench_log*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000)
    return sorted(latencies)


def run_pgbench(
    label: str,
    url: str,
    script: scripts.Script,
    targets: int,
    *,
    clients: int,
    seconds: int,
    cpu_groups: Mapping[str, list[int]],
) -> PgbenchResult:
    with tempfile.TemporaryDirectory(prefix="pml-pgbench-") as directory:
        script_path = Path(directory, f"{label}.sql")
        script_path.write_text(script.text)
        command = [
            tool("pgbench"),
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
            "-r",
            "-l",
            "--log-prefix",
            str(Path(directory, "pgbench_log")),
            "-f",
            str(script_path),
            "-D",
            f"targets={targets}",
        ]
        for name, value in script.defines.items():
            command += ["-D", f"{name}={value}"]
        process = subprocess.Popen(
            [*command, libpq_url(url)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        sampler = CpuSampler({"load generator (pgbench)": [process.pid], **cpu_groups})
        sampler.start()
        output, errors = process.communicate(timeout=seconds + 120)
        sampler.stop()
        if process.returncode != 0:
            raise RuntimeError(f"pgbench {label} failed:\n{output[-2000:]}\n{errors[-2000:]}")
        latencies = _transaction_latencies(Path(directory))
    statements = _statement_latencies(output)
    total = sum(ms for ms, _ in statements)
    lookup = next((ms for ms, text in statements if "pml_bench_" in text), 0.0)
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))  # type: ignore[union-attr]
    failed = re.search(r"number of failed transactions: (\d+)", output)
    return PgbenchResult(
        label,
        clients,
        tps,
        _quantile(latencies, 0.5),
        _quantile(latencies, 0.95),
        _quantile(latencies, 0.99),
        int(failed.group(1)) if failed else 0,
        statements,
        lookup / total if total else 0.0,
        script.text,
        sampler.shares(),
    )


# -- redis-benchmark -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RedisResult:
    value_bytes: int
    clients: int
    rps: float
    p50: float
    p99: float
    cpu: dict[str, float]


def typical_list_bytes(url: str, patients: Sequence[str]) -> int:
    """The median size of a list response body, estimated from the stored entry bodies of a sample."""
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT sum(length(body::text)) + 300 FROM list_entry WHERE patient_id = ANY(%s) "
            "GROUP BY patient_id",
            (list(patients),),
        ).fetchall()
    return int(statistics.median(row[0] for row in rows)) if rows else 4096


def run_redis_benchmark(
    redis_url: str, value_bytes: int, *, clients: int, requests: int, cpu_groups: Mapping[str, list[int]]
) -> RedisResult:
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    command = [
        tool("redis-benchmark"),
        "-h",
        host,
        "-p",
        port,
        "-t",
        "get",
        "-d",
        str(value_bytes),
        "-c",
        str(clients),
        "-n",
        str(requests),
        "--csv",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = CpuSampler({"load generator (redis-benchmark)": [process.pid], **cpu_groups})
    sampler.start()
    output, errors = process.communicate(timeout=300)
    sampler.stop()
    if process.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed: {errors[-2000:]}")
    rows = list(csv.DictReader(io.StringIO(output)))
    row = next(r for r in rows if r.get("test", "").upper().startswith("GET"))
    return RedisResult(
        value_bytes,
        clients,
        float(row["rps"]),
        float(row.get("p50_latency_ms") or math.nan),
        float(row.get("p99_latency_ms") or math.nan),
        sampler.shares(),
    )
