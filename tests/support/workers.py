"""Functions that run in separate OS processes (multiprocessing 'spawn').

They live in an importable module so that the spawned processes can find them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.support.client import ListClient
from tests.support.factories import entry_body


def _add(client: ListClient, patient_id: str, body: dict[str, Any], **options: Any) -> httpx.Response:
    """Add an entry as a well-behaved client does: after a 429 (the writers share one token, and a fast
    server lets their retry loops pass the per-client rate limit) wait as told and send it again."""
    while True:
        response = client.add(patient_id, body, **options)
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("retry-after", "1")))


def contend_each_round(
    base_url: str, token: str, patient_id: str, worker: int, rounds: int, barrier: Any, results: Any
) -> None:
    """In round r every worker writes with If-Match r at the same moment; only one can win each round."""
    client = ListClient(base_url, token, timeout=30)
    try:
        for round_number in range(rounds):
            barrier.wait(timeout=60)
            body = entry_body(display_name=f"worker {worker} round {round_number}")
            response = client.add(patient_id, body, version=round_number)
            entry_id = response.json()["entry"]["id"] if response.status_code == 201 else None
            results.put((round_number, worker, response.status_code, entry_id))
            barrier.wait(timeout=60)
    finally:
        client.close()


def write_with_retries(
    base_url: str, token: str, patient_id: str, worker: int, writes: int, results: Any
) -> None:
    """Each intended write is retried on 412 with the version the problem reports, until acknowledged."""
    client = ListClient(base_url, token, timeout=30)
    try:
        version = client.version(patient_id)
        for number in range(writes):
            key = f"w{worker}-{number}-{uuid.uuid4()}"
            body = entry_body(display_name=f"worker {worker} write {number}", note=key)
            while True:
                response = _add(client, patient_id, body, version=version, key=key)
                if response.status_code == 412:
                    version = response.json()["current_version"]
                    continue
                assert response.status_code == 201, response.text
                version = response.json()["medication_list"]["version"]
                results.put((worker, response.json()["entry"]["id"]))
                break
    finally:
        client.close()


def write_for_a_while(
    base_url: str, token: str, patient_id: str, seconds: float, acknowledged: Any
) -> None:
    """Add entries with If-Match and retry on 412.

    Report (monotonic time, version) of every acknowledged write."""
    client = ListClient(base_url, token, timeout=30)
    try:
        version = client.version(patient_id)
        deadline = time.monotonic() + seconds
        number = 0
        while time.monotonic() < deadline:
            response = _add(client, patient_id, entry_body(display_name=f"write {number}"), version=version)
            if response.status_code == 412:
                version = response.json()["current_version"]
                continue
            assert response.status_code == 201, response.text
            version = response.json()["medication_list"]["version"]
            acknowledged.put((time.monotonic(), version))
            number += 1
    finally:
        client.close()


def read_for_a_while(base_url: str, token: str, patient_id: str, seconds: float, observed: Any) -> None:
    """Read the list as fast as possible, sometimes conditionally; report (start time, version) per read."""
    client = ListClient(base_url, token, timeout=30)
    try:
        deadline = time.monotonic() + seconds
        last_etag = None
        while time.monotonic() < deadline:
            started = time.monotonic()
            headers = {"If-None-Match": last_etag} if last_etag else {}
            response = client.read(patient_id, **headers)
            assert response.status_code in (200, 304), response.text
            version = int(response.headers["etag"].strip('"'))
            if response.status_code == 200:
                assert response.json()["version"] == version
                last_etag = response.headers["etag"]
            observed.put((started, version))
    finally:
        client.close()
