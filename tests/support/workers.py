"""Functions that run in separate OS processes (multiprocessing 'spawn'), so they live in an importable module."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.client import ListClient
from tests.support.factories import entry_body


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


def write_with_retries(base_url: str, token: str, patient_id: str, worker: int, writes: int, results: Any) -> None:
    """Each intended write is retried on 412 with the version the problem reports, until acknowledged."""
    client = ListClient(base_url, token, timeout=30)
    try:
        version = client.version(patient_id)
        for number in range(writes):
            key = f"w{worker}-{number}-{uuid.uuid4()}"
            body = entry_body(display_name=f"worker {worker} write {number}", note=key)
            while True:
                response = client.add(patient_id, body, version=version, key=key)
                if response.status_code == 412:
                    version = response.json()["current_version"]
                    continue
                assert response.status_code == 201, response.text
                version = response.json()["medication_list"]["version"]
                results.put((worker, response.json()["entry"]["id"]))
                break
    finally:
        client.close()
