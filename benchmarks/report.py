"""The throughput report: Markdown for people, JSON for the next comparison. Every figure comes from the run's
results; nothing here is typed in by hand."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.loadgen import Latency, LoadRun

if TYPE_CHECKING:
    from benchmarks.baselines import PgbenchResult
    from benchmarks.run import Results, ScenarioResult

READ_P99_MS = 10.0
WRITE_P99_MS = 30.0


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    what: str
    measured: str
    value: float
    target: str
    met: bool


def _ms(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.1f} ms"


def _rate(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:,.0f}/s"


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _main(result: ScenarioResult, run: LoadRun | None = None) -> Latency:
    """The scenario's throughput series (its named requests), or all requests for the mix."""
    run = run or result.at_max
    names = result.scenario.requests
    if len(names) == 1 and names[0] in run.by_name:
        return run.by_name[names[0]]
    return run.total(names or None)


def _best(values: Iterable[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return max(finite) if finite else math.nan


def _by_name(results: Results, name: str) -> ScenarioResult:
    return next(s for s in results.scenarios if s.scenario.name == name)


def targets(results: Results) -> list[Target]:
    hello = _best(_main(h).rps for h in results.hello)
    write_pgbench = _best(p.tps_without_lookup for p in results.pgbench if p.label.startswith("write"))
    found = []
    for name, floor in (("cached read", 0.7), ("uncached read", 0.5)):
        rps = _main(_by_name(results, name)).rps
        found.append(
            Target(
                f"{name} vs hello-world",
                f"{rps:,.0f} vs {hello:,.0f} req/s",
                rps / hello,
                f"≥ {floor}",
                rps / hello >= floor,
            )
        )
    if len(results.wrk) == 2 and results.wrk[0].rps:
        wrk_hello, wrk_cached = results.wrk[0].rps, results.wrk[1].rps
        found.append(
            Target(
                "cached read vs hello-world, both with wrk (cross-check)",
                f"{wrk_cached:,.0f} vs {wrk_hello:,.0f} req/s",
                wrk_cached / wrk_hello,
                "≥ 0.7",
                wrk_cached / wrk_hello >= 0.7,
            )
        )
    write = _main(_by_name(results, "write")).rps
    found.append(
        Target(
            "write vs pgbench write (strict)",
            f"{write:,.0f} req/s vs {write_pgbench:,.0f} tps",
            write / write_pgbench,
            "≥ 0.5",
            write / write_pgbench >= 0.5,
        )
    )
    for name, limit in (
        ("cached read", READ_P99_MS),
        ("uncached read", READ_P99_MS),
        ("write", WRITE_P99_MS),
    ):
        result = _by_name(results, name)
        if result.at_half is None:
            continue
        half = _main(result, result.at_half)
        found.append(
            Target(
                f"{name} p99 at half the maximum",
                f"{_ms(half.p99)} at {_rate(half.rps)}",
                half.p99,
                f"≤ {limit:.0f} ms",
                half.p99 <= limit,
            )
        )
    return found


def _targets_section(results: Results) -> str:
    rows = [
        (
            t.what,
            t.measured,
            f"**{t.value:.2f}**" if t.value < 5 else _ms(t.value),
            t.target,
            "met" if t.met else "**missed**",
        )
        for t in targets(results)
    ]
    return "## Targets\n\n" + _table(("target", "measured", "ratio / p99", "target", "result"), rows)


def _cpu(shares: dict[str, float]) -> str:
    short = {"PML server": "server", "PostgreSQL": "pg", "Redis": "redis", "other": "other", "idle": "idle"}
    parts = [f"{short.get(k, 'load gen')} {_pct(v)}" for k, v in shares.items()]
    return ", ".join(parts)


def _cache(counts: dict[str, float]) -> str:
    total = sum(counts.values())
    if not total:
        return "–"
    return ", ".join(f"{outcome} {_pct(n / total)}" for outcome, n in sorted(counts.items()))


def _scenario_rows(results: Results) -> list[Sequence[str]]:
    rows = []
    for result in [results.hello[0], *results.scenarios, *results.hello[1:]]:
        top = _main(result)
        half = _main(result, result.at_half) if result.at_half else None
        label = result.scenario.name + (
            " (again, at the end)"
            if result is not results.hello[0] and result.scenario.kind == "hello"
            else ""
        )
        rows.append(
            (
                label,
                _rate(top.rps),
                _ms(top.p50),
                _ms(top.p95),
                _ms(top.p99),
                str(result.at_max.errors_total),
                _rate(half.rps) if half else "–",
                _ms(half.p50) if half else "–",
                _ms(half.p99) if half else "–",
                str(result.at_half.errors_total) if result.at_half else "–",
                _cache(result.cache_at_max),
                _cpu(result.at_max.cpu),
            )
        )
    return rows


def _scenarios_section(results: Results) -> str:
    header = (
        "scenario",
        "max throughput",
        "p50",
        "p95",
        "p99",
        "errors",
        "at half: achieved",
        "p50",
        "p99",
        "errors",
        "list reads at max (server's cache counters)",
        "CPU share at max (of 100% = all cores)",
    )
    note = (
        "Throughput is requests per second of the scenario's own request (for the mix: all requests); "
        "latencies are measured by the client over the steady window; errors count every failed request of "
        "the run, warm-up included."
    )
    return "## Service, per scenario\n\n" + note + "\n\n" + _table(header, _scenario_rows(results))


def _mix_section(results: Results) -> str:
    mix = _by_name(results, "realistic mix")
    rows = [
        (
            name,
            str(lat.count),
            _rate(lat.rps),
            _ms(lat.p50),
            _ms(lat.p95),
            _ms(lat.p99),
            str(lat.errors),
            ", ".join(f"{code}: {n}" for code, n in sorted(mix.at_max.statuses.get(name, {}).items())),
        )
        for name, lat in mix.at_max.by_name.items()
    ]
    text = "## Realistic mix at its maximum, per request\n\n" + _table(
        ("request", "count", "rate", "p50", "p95", "p99", "errors", "status codes (whole run)"), rows
    )
    if mix.at_max.not_driven:
        text += f"\n\nNot driven (the server has no such route yet): {', '.join(mix.at_max.not_driven)}."
    if mix.at_max.error_examples:
        text += "\n\nRequests with error answers: " + "; ".join(mix.at_max.error_examples) + "."
    return text


def _pgbench_rows(results: Results) -> list[Sequence[str]]:
    return [
        (
            f"pgbench {p.label}",
            f"{p.tps:,.0f} tps",
            f"{p.tps_without_lookup:,.0f} tps",
            _pct(p.lookup_share),
            _ms(p.p50),
            _ms(p.p95),
            _ms(p.p99),
            str(p.failed),
            _cpu(p.cpu),
        )
        for p in results.pgbench
    ]


def _baselines_section(results: Results) -> str:
    pg = _table(
        (
            "baseline",
            "throughput",
            "without the look-up (strict)",
            "look-up share",
            "p50",
            "p95",
            "p99",
            "failed",
            "CPU share",
        ),
        _pgbench_rows(results),
    )
    redis = results.redis
    redis_text = (
        ""
        if redis is None
        else (
            f"\n\nredis-benchmark GET of a {redis.value_bytes:,}-byte value (the median list response), "
            f"{redis.clients} clients: **{redis.rps:,.0f}/s**, p50 {_ms(redis.p50)}, p99 {_ms(redis.p99)}; "
            f"CPU {_cpu(redis.cpu)}."
        )
    )
    hello = ", ".join(f"{_rate(_main(h).rps)} (p99 {_ms(_main(h).p99)})" for h in results.hello)
    return (
        "## Baselines\n\n"
        "Hello-world (`/health/live` on the same server, same locust client), start and end of the run: "
        f"{hello}. The ratios use the higher. It passes the same middleware as every request (request id, "
        "metrics, audit, body limits) and is routed ahead of /v1; in reports before stop 13 it was matched "
        "against every /v1 route first, which cost a fifth to a third of its CPU, so the ratios there were "
        "against a slower baseline.\n\n" + pg + redis_text + "\n\n"
        "The pgbench scripts are recorded from the service's own SQL at the start of the run "
        "(`benchmarks/pgbench_scripts.py`): the read is the list read, the write is the dose change "
        "`PATCH .../entries/{id}` with If-Match and an Idempotency-Key, exactly the statements the service "
        "sends, with `-M prepared`. Each pgbench transaction first looks up a random patient in a helper "
        "table; the strict figure removes that look-up's share of the latency, and the write ratio is "
        "taken against it."
    )


def _wrk_section(results: Results) -> str:
    if not results.wrk:
        return ""
    hello_locust = _best(_main(h).rps for h in results.hello)
    rows = [
        (w.label, _rate(w.rps), _ms(w.p50), _ms(w.p99), str(w.errors), _cache(w.cache), _cpu(w.cpu))
        for w in results.wrk
    ]
    wrk_hello = results.wrk[0].rps
    header = ("endpoint", "throughput", "p50", "p99", "errors", "list reads", "CPU share")
    return (
        "## Ceiling with a cheaper client (wrk, 2 threads, 32 connections, 10 s)\n\n"
        + _table(header, rows)
        + f"\n\nlocust reaches {hello_locust / wrk_hello:.2f} of wrk's hello-world throughput: "
        + (
            "the load client, not the server, limits the hello-world baseline; ratios against it flatter "
            "the service."
            if hello_locust / wrk_hello < 0.8
            else "the locust baseline is close to what the server itself can answer."
        )
    )


def _cpu_ms(shares: dict[str, float], group: str, rps: float, cpus: int) -> float:
    """CPU milliseconds a process group spent per request over the run's window."""
    return 1000 * shares.get(group, 0.0) * cpus / rps if rps else math.nan


def _cost_section(results: Results) -> str:
    """CPU per request: what a request costs, which the other load on the machine disturbs far less than
    throughput (a starved server answers fewer requests, but each costs about the same)."""
    cpus = int(results.machine.get("cpus") or 1)
    hello = results.hello[0]
    hello_ms = _cpu_ms(hello.at_max.cpu, "PML server", _main(hello).rps, cpus)
    rows = []
    for result in [hello, *results.scenarios]:
        rps = _main(result).rps
        server = _cpu_ms(result.at_max.cpu, "PML server", rps, cpus)
        postgres = _cpu_ms(result.at_max.cpu, "PostgreSQL", rps, cpus)
        redis = _cpu_ms(result.at_max.cpu, "Redis", rps, cpus)
        rows.append(
            (
                result.scenario.name,
                f"{server:.2f} ms",
                f"{server / hello_ms:.1f}x",
                f"{postgres:.2f} ms",
                f"{redis:.2f} ms",
            )
        )
    for p in results.pgbench[:2]:
        rows.append(
            (f"pgbench {p.label}", "–", "–", f"{_cpu_ms(p.cpu, 'PostgreSQL', p.tps, cpus):.2f} ms", "–")
        )
    return (
        "## CPU per request (at the maximum)\n\n"
        "What one request costs: the CPU each process group used over the run's window divided by the "
        "requests answered in it (for the mix: all its requests). The other load on the machine moves this "
        "far less than it moves throughput (a starved server answers fewer requests, each costing about the "
        "same), so it is the figure to compare between runs.\n\n"
        + _table(("scenario", "server CPU", "vs hello-world", "PostgreSQL CPU", "Redis CPU"), rows)
    )


def _write_sql_section(results: Results) -> str:
    write = next((p for p in results.pgbench if p.label.startswith("write")), None)
    if write is None:
        return ""
    rows = [(f"{ms:.3f}", text[:110].replace("|", "\\|")) for ms, text in write.statement_ms]
    return "## The service's write transaction, statement by statement (pgbench -r, first run)\n\n" + _table(
        ("ms", "statement"), rows
    )


def _setup_section(results: Results, command: str) -> str:
    m, after, pop, cfg = results.machine, results.machine_after, results.population, results.config
    others = [r.at_max.cpu.get("other", 0.0) for r in [*results.hello, *results.scenarios]]
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    return f"""# Throughput benchmark

Generated by `{command}` ({results.started}), commit {m.get("commit")} with {m.get("uncommitted_files")} files
uncommitted in the shared working tree.

Machine: {m.get("platform")}, {m.get("cpus")} CPUs, {m.get("memory_gb")} GB; load average
{m.get("load_average")} before and {after.get("load_average")} after. **This machine is shared**: during the
service runs, CPU that none of this benchmark's processes used came to {_pct(min(others))}–{_pct(max(others))}
of all CPU ("other" below). That is other people's work, kernel time charged to no process, and any process
that starts and ends between two half-second samples (a short-lived database connection, say). Absolute
figures move with that; ratios are measured side by side in the same run, and the hello-world and pgbench
baselines are measured at the start and again at the end.

Versions: {versions}. Database: {m.get("database")}.

Population: {pop.get("patients"):,} patients for the load (+{int(cfg.get("pgbench_patients", 0)):,} written
only by pgbench), bulk-seeded with COPY in {pop.get("seed_seconds")} s ({pop.get("entries"):,} entries,
{pop.get("changes"):,} change records); catalogue release {pop.get("catalogue_release")}
({cfg.get("catalogue")}); median list response {pop.get("list_bytes_median"):,} bytes.

Server: `pml serve --workers {cfg.get("workers")}` ({cfg.get("server")}), Redis for the cache and the rate
limiter; the per-client rate limit is raised to 1,000,000/s for the run (each simulated user also has its own
token subject, as real clients do), so it is counted in Redis on every request but never refuses.

Load: locust FastHttpUser, {cfg.get("load_processes")} locust process(es), {cfg.get("users")} users; each run
{cfg.get("duration")} s, the first {cfg.get("warmup")} s cut. "As fast as it answers" = closed loop (each user
sends its next request when the answer arrives); "at half" = half the maximum task rate, each user starting
tasks as a Poisson process (random gaps, as independent clients arrive; a fixed gap made the users fall
into step and send in bursts: see `poisson_arrivals` in the locustfile). Cached read: full reads (no
If-None-Match) of a hot set of 1,000 lists. Uncached read: every read a patient not read before in the run,
Redis emptied first. Write: dose changes (PATCH with If-Match and
Idempotency-Key) on patients each user owns, keeping the ETag of each answer; 412 is retried. Realistic mix:
weights 60/20/10/5/5 (nurse conditional reads and delta sync; prescriber read, search and interaction
check; prescriber edits with If-Match and retry on 412; pharmacy dispensing snapshots; hospital discharge
snapshot and decisions).
"""


def render(results: Results, *, command: str) -> str:
    sections = [
        _setup_section(results, command),
        _targets_section(results),
        _baselines_section(results),
        _scenarios_section(results),
        _cost_section(results),
        _mix_section(results),
        _wrk_section(results),
        _write_sql_section(results),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def as_json(results: Results) -> dict[str, Any]:
    document: dict[str, Any] = _plain(results)
    document["targets"] = [_plain(t) for t in targets(results)]
    return document


def pgbench_best(results: Sequence[PgbenchResult], kind: str) -> float:
    return _best(p.tps_without_lookup for p in results if p.label.startswith(kind))
