"""Prometheus metrics and structured logs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.support.client import ListClient
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess


def _sample(metrics: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = re.compile(rf"^{name}\{{(.*)\}} (\S+)$", re.MULTILINE)
    total = 0.0
    for match in pattern.finditer(metrics):
        line = match.group(0)
        if all(f'{key}="{value}"' in line for key, value in labels.items()) or not wanted:
            total += float(match.group(2))
    return total


def test_metrics_count_requests_by_route_template_and_cache_outcomes(
    lists: ListClient, live_server: ServerProcess
) -> None:
    patient_id = new_patient_id()
    before = httpx.get(f"{live_server.base_url}/metrics").text
    lists.add(patient_id, entry_body(), version=0)
    lists.read(patient_id)  # the write moved the pointer past the bytes: a miss, then cached
    lists.read(patient_id)  # hit
    lists.read(patient_id, **{"If-None-Match": '"1"'})  # answered from the cache
    after = httpx.get(f"{live_server.base_url}/metrics").text
    route = "/v1/patients/{patient_id}/medication-list"
    assert patient_id not in after  # labels carry route templates, never national ids
    reads = _sample(after, "pml_http_requests_total", route=route, method="GET")
    assert reads - _sample(before, "pml_http_requests_total", route=route, method="GET") == 3
    for outcome in ("miss", "hit", "not_modified"):
        delta = _sample(after, "pml_list_cache_reads_total", outcome=outcome) - _sample(
            before, "pml_list_cache_reads_total", outcome=outcome
        )
        assert delta == 1, outcome
    assert "pml_http_request_duration_seconds_bucket" in after
    assert "pml_db_pool_connections_in_use" in after


def test_logs_are_json_lines_and_the_request_id_travels(lists: ListClient, work_dir: Path) -> None:
    response = lists.http.get("/v1/does-not-exist", headers={"X-Request-ID": "trace-me-123"})
    assert response.headers["x-request-id"] == "trace-me-123"
    lines = (work_dir / "server.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records, "the server wrote no JSON log lines"
    assert all({"time", "level", "logger", "message", "request_id"} <= record.keys() for record in records)
    assert any(record["message"] == "PML API started" for record in records)


def test_patient_data_is_never_stored_by_http_caches(lists: ListClient) -> None:
    patient_id = new_patient_id()
    assert lists.read(patient_id).headers["cache-control"] == "no-store"
    assert "no-store" not in lists.http.get("/health/live").headers.get("cache-control", "")


def test_a_request_without_an_id_gets_a_fresh_32_hex_digit_one(lists: ListClient) -> None:
    ids = {lists.http.get("/health/live").headers["x-request-id"] for _ in range(50)}
    assert len(ids) == 50
    assert all(len(request_id) == 32 and int(request_id, 16) >= 0 for request_id in ids)
