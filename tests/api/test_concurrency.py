"""Many OS processes writing one patient's list at once: optimistic concurrency holds, nothing is lost."""

from __future__ import annotations

import multiprocessing
from collections import defaultdict
from typing import Any

import pytest

from tests.support.client import ListClient
from tests.support.factories import new_patient_id
from tests.support.servers import ServerProcess
from tests.support.workers import contend_each_round, write_with_retries

PROCESSES = 8
ROUNDS = 5
WRITES_PER_PROCESS = 4  # with ROUNDS, stays under the test server's 40-entry list limit


def _drain(queue: Any, count: int) -> list[Any]:
    return [queue.get(timeout=60) for _ in range(count)]


def _run_processes(target: Any, argument_lists: list[tuple[Any, ...]]) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=args) for args in argument_lists]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0, f"a writer process failed with exit code {process.exitcode}"


def _all_history(lists: ListClient, patient_id: str) -> list[dict[str, Any]]:
    page = lists.http.get(lists.path(patient_id, "/history"), params={"limit": 500}).json()
    changes: list[dict[str, Any]] = page["changes"]
    return changes


@pytest.mark.slow
def test_exactly_one_writer_wins_each_version_and_retries_lose_nothing(
    live_server: ServerProcess, prescriber_token: str, lists: ListClient
) -> None:
    patient_id = new_patient_id()
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    _run_processes(contend_each_round, [
        (live_server.base_url, prescriber_token, patient_id, worker, ROUNDS, barrier, results)
        for worker in range(PROCESSES)
    ])
    outcomes: dict[int, list[int]] = defaultdict(list)
    acknowledged = []
    for round_number, _worker, status, entry_id in _drain(results, PROCESSES * ROUNDS):
        outcomes[round_number].append(status)
        if entry_id:
            acknowledged.append(entry_id)
    for round_number in range(ROUNDS):
        assert sorted(outcomes[round_number]) == [201] + [412] * (PROCESSES - 1), round_number

    _run_processes(write_with_retries, [
        (live_server.base_url, prescriber_token, patient_id, worker, WRITES_PER_PROCESS, results)
        for worker in range(PROCESSES)
    ])
    acknowledged += [entry_id for _worker, entry_id in _drain(results, PROCESSES * WRITES_PER_PROCESS)]

    final = lists.read(patient_id).json()
    assert final["version"] == len(acknowledged) == ROUNDS + PROCESSES * WRITES_PER_PROCESS
    history = _all_history(lists, patient_id)
    assert sorted(c["version"] for c in history) == list(range(1, final["version"] + 1))
    assert sorted(c["entry_id"] for c in history) == sorted(acknowledged)
    assert sorted(e["id"] for e in final["entries"]) == sorted(acknowledged)
