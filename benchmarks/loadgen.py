"""Running the load generators and reading what they measured.

Locust runs headless with FastHttpUser (gevent, C HTTP parser), in one or more worker processes; each process
writes its raw samples when it quits (see `benchmarks/locustfile.py`). Figures come from those samples,
over the steady part of the run only (the first seconds, while users start and connections open, are cut),
with exact percentiles. `wrk` gives a ceiling for what a far cheaper client gets out of the same server.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.processes import REPO_ROOT, CpuSampler, tool

LOCUSTFILE = REPO_ROOT / "benchmarks" / "locustfile.py"


@dataclass(frozen=True, slots=True)
class Latency:
    count: int
    rps: float
    p50: float
    p95: float
    p99: float
    errors: int

    @classmethod
    def of(cls, samples: Sequence[tuple[float, float, int]], seconds: float) -> Latency:
        times = sorted(ms for _, ms, _ in samples)
        errors = sum(1 for *_, ok in samples if not ok)
        return cls(
            len(times),
            len(times) / seconds if seconds else 0.0,
            _quantile(times, 0.5),
            _quantile(times, 0.95),
            _quantile(times, 0.99),
            errors,
        )


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank quantile: the smallest sample with at least q of all samples at or below it."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class LoadRun:
    """One locust run: per request name over the steady window, plus CPU shares and status codes."""

    label: str
    users: int
    user_rate: float | None
    window: float
    by_name: dict[str, Latency]
    statuses: dict[str, dict[str, int]]
    errors_total: int
    error_examples: list[str]
    not_driven: list[str]
    cpu: dict[str, float] = field(default_factory=dict)

    def total(self, names: Sequence[str] | None = None) -> Latency:
        """All requests (or those named) together, as one series."""
        chosen = [n for n in self.by_name if names is None or n in names]
        count = sum(self.by_name[n].count for n in chosen)
        return Latency(
            count,
            count / self.window if self.window else 0.0,
            math.nan,
            math.nan,
            math.nan,
            sum(self.by_name[n].errors for n in chosen),
        )


@dataclass(frozen=True, slots=True)
class LocustOptions:
    host: str
    users: int
    duration: float
    warmup: float
    processes: int
    env: Mapping[str, str]
    cpu_groups: Mapping[str, list[int]]


def _locust_command(options: LocustOptions, classes: Sequence[str]) -> list[str]:
    command = [
        tool("locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        options.host,
        "--users",
        str(options.users),
        "--spawn-rate",
        str(options.users),
        "--run-time",
        f"{int(options.duration)}s",
        "--stop-timeout",
        "5",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    if options.processes > 1:
        command += ["--processes", str(options.processes)]
    return [*command, *classes]


def run_locust(
    label: str,
    classes: Sequence[str],
    options: LocustOptions,
    *,
    user_rate: float | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> LoadRun:
    """Run locust and return the steady-window figures; CPU is sampled over the same window."""
    with tempfile.TemporaryDirectory(prefix="pml-locust-") as samples_dir:
        env = (
            dict(options.env)
            | dict(extra_env or {})
            | {
                "PML_BENCH_SAMPLES_DIR": samples_dir,
                "PML_BENCH_USER_RATE": f"{user_rate:.4f}" if user_rate else "0",
                "PML_BENCH_LOAD_PROCESSES": str(max(1, options.processes)),
            }
        )
        started = time.time()
        process = subprocess.Popen(
            _locust_command(options, classes),
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = CpuSampler({"load generator (locust)": [process.pid], **options.cpu_groups})
        time.sleep(options.warmup)
        sampler.start()
        time.sleep(max(0.0, options.duration - options.warmup - 1))
        sampler.stop()
        output, _ = process.communicate(timeout=options.duration + 120)
        window = (started + options.warmup, started + options.duration - 1)
        run = _read_samples(label, Path(samples_dir), window, options.users, user_rate)
    run.cpu = sampler.shares()
    # Exit code 1 also means "some requests failed", which the figures show; no samples at all means locust
    # itself failed.
    if process.returncode not in (0, 1) or not run.by_name:
        raise RuntimeError(f"locust exited with {process.returncode}:\n{output.decode()[-3000:]}")
    return run


def _read_samples(
    label: str, directory: Path, window: tuple[float, float], users: int, user_rate: float | None
) -> LoadRun:
    samples: dict[str, list[tuple[float, float, int]]] = {}
    statuses: dict[str, dict[str, int]] = {}
    not_driven: set[str] = set()
    for path in directory.glob("samples-*.json"):
        document = json.loads(path.read_text())
        for name, rows in document["samples"].items():
            samples.setdefault(name, []).extend(tuple(row) for row in rows)
        for name, counts in document["status"].items():
            merged = statuses.setdefault(name, {})
            for status, count in counts.items():
                merged[status] = merged.get(status, 0) + count
        not_driven.update(document.get("not_driven", []))
    start, end = window
    seconds = end - start
    by_name = {
        name: Latency.of([s for s in rows if start <= s[0] - s[1] / 1000 and s[0] <= end], seconds)
        for name, rows in sorted(samples.items())
        if "(setup)" not in name
    }
    errors = sum(1 for rows in samples.values() for *_, ok in rows if not ok)
    examples = [
        f"{name}: {codes}"
        for name, codes in statuses.items()
        if any(not code.startswith(("2", "3")) and code not in ("409", "412") for code in codes)
    ]
    return LoadRun(label, users, user_rate, seconds, by_name, statuses, errors, examples, sorted(not_driven))


# -- wrk -----------------------------------------------------------------------------------------------------

WRK_SCRIPT = """
local patients = {}
for line in io.lines(os.getenv("PML_BENCH_WRK_PATIENTS")) do patients[#patients + 1] = line end
wrk.headers["Authorization"] = "Bearer " .. os.getenv("PML_BENCH_WRK_TOKEN")
wrk.headers["X-PML-Purpose"] = "TREAT"
request = function()
  local id = patients[math.random(#patients)]
  return wrk.format("GET", "/v1/patients/" .. id .. "/medication-list")
end
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    label: str
    rps: float
    p50: float
    p99: float
    errors: int
    cpu: dict[str, float]
    cache: dict[str, float] = field(default_factory=dict)


def _wrk_ms(text: str, percentile: str) -> float:
    match = re.search(rf"^\s*{re.escape(percentile)}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if match is None:
        return math.nan
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(
    label: str,
    url: str,
    *,
    connections: int,
    seconds: int,
    cpu_groups: Mapping[str, list[int]],
    patients: Sequence[str] = (),
    token: str | None = None,
) -> WrkResult:
    """A wrk run (2 threads); with `patients`, random list reads of them with the given token."""
    with tempfile.TemporaryDirectory(prefix="pml-wrk-") as directory:
        command = [tool("wrk"), "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
        env = dict(os.environ)
        if patients:
            Path(directory, "patients.txt").write_text("\n".join(patients))
            Path(directory, "read.lua").write_text(WRK_SCRIPT)
            command[1:1] = ["-s", str(Path(directory, "read.lua"))]
            env |= {
                "PML_BENCH_WRK_PATIENTS": str(Path(directory, "patients.txt")),
                "PML_BENCH_WRK_TOKEN": token or "",
            }
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        sampler = CpuSampler({"load generator (wrk)": [process.pid], **cpu_groups})
        sampler.start()
        output = process.communicate(timeout=seconds + 60)[0].decode()
        sampler.stop()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return WrkResult(
        label,
        float(rps.group(1)) if rps else math.nan,
        _wrk_ms(output, "50"),
        _wrk_ms(output, "99"),
        errors,
        sampler.shares(),
    )
