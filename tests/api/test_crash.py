"""A server killed with SIGKILL in the middle of a write load loses no acknowledged write and leaves no
half-written version: history and the materialised list agree afterwards."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from pml.settings import Settings
from tests.conftest import server_env
from tests.support.client import ListClient
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess

WRITERS = 6


@dataclass
class WriterLog:
    """What one writer knows: which writes were acknowledged, and which were in flight when the server
    died."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # idempotency key -> entry id
    in_flight: dict[str, dict[str, Any]] = field(default_factory=dict)  # idempotency key -> body


def _write_until_the_server_dies(client: ListClient, patient_id: str, log: WriterLog) -> None:
    version = 0
    for number in range(10_000):
        key = f"crash-{uuid.uuid4()}"
        body = entry_body(display_name=f"write {number}", note=key)
        log.in_flight[key] = body
        try:
            response = client.add(patient_id, body, version=version, key=key)
        except httpx.TransportError:
            return  # the server is gone; this write's fate is unknown
        del log.in_flight[key]
        assert response.status_code in (201, 422), response.text  # 422: the list is full
        if response.status_code == 422:
            return
        log.acknowledged[key] = response.json()["entry"]["id"]
        version = response.json()["medication_list"]["version"]


def _assert_history_and_snapshot_agree(client: ListClient, patient_id: str) -> dict[str, Any]:
    current = client.read(patient_id).json()
    rebuilt = client.http.get(client.path(patient_id, f"/versions/{current['version']}")).json()
    assert rebuilt["entries"] == current["entries"]
    history = client.http.get(client.path(patient_id, "/history"), params={"limit": 500}).json()["changes"]
    assert sorted(change["version"] for change in history) == list(range(1, current["version"] + 1))
    return current


@pytest.mark.slow
def test_sigkill_mid_load_loses_no_acknowledged_write(
    server_settings: Settings, prescriber_token: str, work_dir: Path
) -> None:
    # A list limit the load cannot reach before the kill, so writes are still going when it comes; and no
    # rate limit: the writers share one token, and a 429 would end a writer before the kill.
    env = server_env(server_settings, PML_MAX_LIST_ENTRIES="100000", PML_RATE_LIMIT_PER_SECOND="1000000")
    server = ServerProcess(env=env, log_path=work_dir / "crash-server.log").start()
    patients = [new_patient_id() for _ in range(WRITERS)]
    logs = [WriterLog() for _ in patients]
    clients = [ListClient(server.base_url, prescriber_token, timeout=5) for _ in patients]
    threads = [
        threading.Thread(target=_write_until_the_server_dies, args=(client, patient_id, log))
        for client, patient_id, log in zip(clients, patients, logs, strict=True)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    server.kill()
    for thread in threads:
        thread.join(30)
    assert all(log.acknowledged for log in logs), "the load did not get going before the kill"

    restarted = ServerProcess(env=server.env, log_path=work_dir / "crash-server.log").start()
    try:
        client = ListClient(restarted.base_url, prescriber_token)
        for patient_id, log in zip(patients, logs, strict=True):
            _check_patient_after_crash(client, patient_id, log)
        client.close()
    finally:
        restarted.stop()
        for c in clients:
            c.close()


def _check_patient_after_crash(client: ListClient, patient_id: str, log: WriterLog) -> None:
    current = _assert_history_and_snapshot_agree(client, patient_id)
    present = {entry["note"]: entry["id"] for entry in current["entries"]}
    for key, entry_id in log.acknowledged.items():
        assert present.get(key) == entry_id, f"acknowledged write {key} was lost"
    # A write in flight at the kill either committed or did not; retrying it with its key settles it, once.
    for key, body in log.in_flight.items():
        retry = client.add(patient_id, body, version=current["version"], key=key)
        assert retry.status_code == 201, retry.text
    final = _assert_history_and_snapshot_agree(client, patient_id)
    notes = [entry["note"] for entry in final["entries"]]
    assert len(notes) == len(set(notes)) == len(log.acknowledged) + len(log.in_flight)
