"""`pml serve --workers N` gives every worker a listening socket of its own (SO_REUSEPORT, pml/serving.py):
connections that stay open spread evenly over the workers, and a worker that dies is replaced on its own
socket. uvicorn's shared socket split 32 connections opened together 22 to 10, run after run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pml.settings import Settings
from tests.conftest import server_env
from tests.support.servers import ServerProcess

CONNECTIONS = 128
REQUEST = b"GET /health/live HTTP/1.1\r\nHost: pml\r\n\r\n"


@pytest.fixture
def two_workers(
    server_settings: Settings, redis_url: str, work_dir: Path, catalogue_release_id: str
) -> Iterator[ServerProcess]:
    env = server_env(server_settings, PML_REDIS_URL=redis_url)
    server = ServerProcess(env=env, log_path=work_dir / "pml-serve-workers.log")
    yield server.start(workers=2, timeout=60, pml_serve=True)
    server.stop()


def _workers(server: ServerProcess) -> list[psutil.Process]:
    assert server.process is not None
    supervisor = psutil.Process(server.process.pid)
    return [p for p in supervisor.children(recursive=True) if _listens(p, server.port)]


def _listens(process: psutil.Process, port: int) -> bool:
    try:
        return any(c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in process.net_connections())
    except psutil.Error:
        return False


def _open_connections(port: int) -> list[socket.socket]:
    """Keep-alive connections opened together, each answered once (so its worker has accepted it)."""
    opened = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(CONNECTIONS)]
    for sock in opened:
        sock.sendall(REQUEST)
    for sock in opened:
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    return opened


def _accepted_by(workers: list[psutil.Process], port: int) -> list[int]:
    return [
        sum(1 for c in w.net_connections() if c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED)
        for w in workers
    ]


def _split(server: ServerProcess) -> list[int]:
    workers = _workers(server)
    assert len(workers) == 2
    opened = _open_connections(server.port)
    try:
        return _accepted_by(workers, server.port)
    finally:
        for sock in opened:
            sock.close()


def test_keep_alive_connections_spread_over_the_workers(two_workers: ServerProcess) -> None:
    split = _split(two_workers)
    assert sum(split) == CONNECTIONS
    # The kernel picks a socket per connection by hash: 64 each on average, below 44 about once in 2,000 runs.
    assert min(split) >= 44, split


def test_a_worker_that_dies_is_replaced_on_a_socket_of_its_own(two_workers: ServerProcess) -> None:
    victim = _workers(two_workers)[0]
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = _workers(two_workers)
        if len(workers) == 2 and victim.pid not in {w.pid for w in workers}:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the killed worker was not replaced within 60 s")
    assert min(_split(two_workers)) >= 44


def test_a_port_another_program_holds_fails_once_with_a_clear_message(
    server_settings: Settings, redis_url: str, catalogue_release_id: str
) -> None:
    """Not a worker crash loop: the supervisor binds the port itself before starting any worker."""
    env = server_env(server_settings, PML_REDIS_URL=redis_url)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        pml = str(Path(sys.executable).with_name("pml"))
        done = subprocess.run(
            [pml, "serve", "--port", str(port), "--workers", "2", "--no-migrate"],
            env=env, capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stdout + done.stderr
