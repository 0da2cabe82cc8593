"""Property-based API test: schemathesis generates requests from the OpenAPI document and sends them over
HTTP to the real server. No response may be a 5xx, and every response must match what the document says
(status, content type, body schema)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.client import ListClient
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(live_server: ServerProcess) -> Any:
    return schemathesis.openapi.from_url(f"{live_server.base_url}/v1/openapi.json")


@pytest.fixture(scope="module")
def known_patient(lists_module: ListClient) -> str:
    patient_id = new_patient_id()
    assert lists_module.add(patient_id, entry_body(), version=0).status_code == 201
    return patient_id


@pytest.fixture(scope="module")
def lists_module(live_server: ServerProcess, prescriber_token: str) -> Any:
    client = ListClient(live_server.base_url, prescriber_token)
    yield client
    client.close()


def _operations(api_schema: Any) -> list[Any]:
    return [result.ok() for result in api_schema.get_all_operations()]


@pytest.mark.slow
def test_no_server_errors_and_responses_match_the_document(
    api_schema: Any, live_server: ServerProcess, prescriber_token: str, known_patient: str
) -> None:
    # schemathesis's own pytest plugin does not run under pytest 9 yet, so each operation's strategy is
    # driven by hypothesis directly; the checks are the same.
    headers = {"Authorization": f"Bearer {prescriber_token}", "X-PML-Purpose": "TREAT"}
    operations = _operations(api_schema)
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy(), known=st.booleans())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any, known: bool) -> None:
            # Half the cases address a patient that exists, so bodies reach the service, not just validation.
            if known and "patient_id" in (case.path_parameters or {}):
                case.path_parameters["patient_id"] = known_patient
            case.call_and_validate(base_url=live_server.base_url, headers=headers, checks=CHECKS)

        check()


def test_every_patient_data_operation_documents_the_patient_and_the_access_headers(
    live_server: ServerProcess,
) -> None:
    """The access dependency reads the patient id and headers itself; the document must still name them."""
    document = httpx.get(f"{live_server.base_url}/v1/openapi.json").json()
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith("/v1/patients/{patient_id}")
        for method, operation in item.items()
    ]
    assert len(operations) >= 25
    for path, method, operation in operations:
        named = {(parameter["in"], parameter["name"]) for parameter in operation.get("parameters", [])}
        assert ("path", "patient_id") in named, (method, path)
        assert ("header", "X-PML-Purpose") in named, (method, path)
        assert ("header", "X-PML-Emergency-Access") in named, (method, path)
        assert "422" in operation["responses"], (method, path)
