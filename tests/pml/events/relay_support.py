"""Test support for change events: `pml relay` as a real OS process (so it can be SIGKILLed), a tiny webhook
receiver, and reading the Redis Streams back."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis

from pml.events.streams import stream_keys
from tests.support.servers import REPO_ROOT, ProcessGroup

PML = str(Path(sys.executable).with_name("pml"))


def wait_for(condition: Callable[[], bool], *, timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class RelayProcess(ProcessGroup):
    """`pml relay` in its own process group, logging to a file."""

    env: dict[str, str]
    log_path: Path
    consumer: str = "test-relay"
    webhooks: bool = True
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> RelayProcess:
        command = [PML, "relay", "--consumer", self.consumer, "--poll-interval", "0.02"]
        if not self.webhooks:
            command.append("--no-webhooks")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=REPO_ROOT, stdout=log, stderr=log, start_new_session=True
            )
        return self



def stream_entries(redis_url: str, shards: int) -> list[dict[str, str]]:
    """Every entry of every shard, each shard in stream order (one patient is always in one shard)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [fields for key in stream_keys(shards) for _id, fields in client.xrange(key)]
    finally:
        client.close()


def stream_length(redis_url: str, shards: int) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return sum(int(client.xlen(key)) for key in stream_keys(shards))
    finally:
        client.close()


def versions_by_patient(entries: list[dict[str, str]]) -> dict[str, list[int]]:
    versions: dict[str, list[int]] = {}
    for fields in entries:
        versions.setdefault(fields["patient_id"], []).append(int(fields["version"]))
    return versions


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


@dataclass
class WebhookReceiver:
    """An HTTP server on a free port that records every POST and answers with planned statuses (per path, in
    order; 200 once the plan is used up)."""

    received: list[Received] = field(default_factory=list)
    plans: dict[str, list[int]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver._record(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            plan = self.plans.get(path, [])
            status = plan.pop(0) if plan else 200
            if 200 <= status < 300:
                self.received.append(Received(path, headers, body))
            return status

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def delivered(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
