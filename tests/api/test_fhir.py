"""The FHIR R4 facade over real HTTP: lists written through /v1 read back as List, MedicationStatement and
Provenance; updates through FHIR with If-Match; history and vread; OperationOutcome for every error. Every
response body is parsed with the fhir.resources R4B models (R4 on the wire, see docs/DECISIONS.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.fhirresourcemodel import FHIRResourceModel

from tests.support.catalogue import query
from tests.support.client import ListClient
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"
ATC = "http://www.whocc.no/atc"
MERKEVARE = "http://dmp.no/fhir/NamingSystem/festLegemiddelMerkevare"
VARENR = "http://dmp.no/fhir/NamingSystem/fest-varenummer"
VIRKESTOFF = "http://dmp.no/fhir/NamingSystem/festLegemiddelVirkestoff"
FHIR_JSON = "application/fhir+json"


class Fhir:
    """A FHIR client that parses every response body with the R4B models before a test sees it."""

    def __init__(self, base_url: str, token: str | None) -> None:
        headers = {"X-PML-Purpose": "TREAT", "Accept": FHIR_JSON}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=f"{base_url}/fhir/R4", headers=headers, timeout=10)

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, Any]:
        response = self.http.request(method, path, **kwargs)
        if response.status_code == 304:
            return response, None
        assert response.headers["content-type"].startswith(FHIR_JSON), response.text
        body = response.json()
        resource = get_fhir_model_class(body["resourceType"]).model_validate(body)
        return response, resource

    def get(self, path: str, **kwargs: Any) -> tuple[httpx.Response, Any]:
        return self.request("GET", path, **kwargs)

    def put(
        self, path: str, resource: FHIRResourceModel | dict[str, Any], *, if_match: str | None
    ) -> tuple[httpx.Response, Any]:
        body = resource if isinstance(resource, dict) else resource.model_dump(mode="json")
        headers = {"Content-Type": FHIR_JSON} | ({"If-Match": if_match} if if_match else {})
        return self.request("PUT", path, json=body, headers=headers)


@pytest.fixture
def fhir(live_server: ServerProcess, prescriber_token: str) -> Iterator[Fhir]:
    client = Fhir(live_server.base_url, prescriber_token)
    yield client
    client.http.close()


@pytest.fixture
def anonymous(live_server: ServerProcess) -> Iterator[Fhir]:
    client = Fhir(live_server.base_url, token=None)
    yield client
    client.http.close()


def _add(lists: ListClient, patient_id: str, version: int, **fields: Any) -> dict[str, Any]:
    response = lists.add(patient_id, entry_body(**fields), version=version)
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()["entry"]
    return entry


def _outcome_code(resource: Any) -> str:
    assert resource.get_resource_type() == "OperationOutcome"
    code: str = resource.issue[0].details.coding[0].code
    return code


def _statement(fhir: Fhir, patient_id: str, entry_id: str) -> tuple[httpx.Response, Any]:
    response, statement = fhir.get(f"/MedicationStatement/{patient_id}-{entry_id}")
    assert response.status_code == 200, response.text
    return response, statement


# -- reads ---------------------------------------------------------------------------------------------------


def test_metadata_is_a_public_capability_statement(anonymous: Fhir) -> None:
    response, capabilities = anonymous.get("/metadata")
    assert response.status_code == 200
    assert capabilities.fhirVersion == "4.0.1"
    assert capabilities.kind == "instance"
    resources = {r.type: {i.code for i in r.interaction} for r in capabilities.rest[0].resource}
    assert resources["List"] >= {"read", "vread", "history-instance"}
    assert resources["MedicationStatement"] >= {"read", "vread", "update", "history-instance"}
    assert "read" in resources["Provenance"]


def test_an_empty_list_is_nil_known_and_says_when_nobody_has_ever_recorded_anything(
    fhir: Fhir, lists: ListClient
) -> None:
    patient_id = new_patient_id()
    response, medication_list = fhir.get(f"/List/{patient_id}")
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"0"'
    assert (medication_list.mode, medication_list.status, medication_list.entry) == (
        "working",
        "current",
        None,
    )
    assert medication_list.emptyReason.coding[0].code == "nilknown"
    assert "versjon 0" in medication_list.note[0].text
    assert medication_list.extension is None  # never reviewed
    reviewed = lists.write("POST", patient_id, "/review", {"source": "gp"}, version=0)
    assert reviewed.status_code == 200, reviewed.text
    _, medication_list = fhir.get(f"/List/{patient_id}")
    assert medication_list.emptyReason.coding[0].code == "nilknown"
    assert medication_list.note is None
    assert medication_list.meta.versionId == "1"
    reviewed_by = {e.url: e for e in medication_list.extension[0].extension}["by"].valueReference
    assert (reviewed_by.identifier.system, reviewed_by.identifier.value) == (HPR, "9144889")


def test_an_entry_written_through_v1_reads_back_as_a_coded_medication_statement(
    fhir: Fhir, lists: ListClient
) -> None:
    patient_id = new_patient_id()
    product = {
        "atc": "N06AA09",
        "merkevare_id": "ID_012C7C0D-77BC-4F3D-BEBE-663743B03C1F",
        "varenr": "342044",
        "virkestoff_id": "ID_AMITRIPTYLIN",
    }
    entry = _add(
        lists,
        patient_id,
        0,
        display_name="Amitriptylin Abcur tablett 50 mg",
        product=product,
        dose_text="1 tablett morgen og kveld",
        indication="nevropatisk smerte",
    )
    response, medication_list = fhir.get(f"/List/{patient_id}")
    assert response.headers["etag"] == 'W/"1"'
    assert medication_list.emptyReason is None
    assert [e.item.reference for e in medication_list.entry] == [
        f"MedicationStatement/{patient_id}-{entry['id']}"
    ]
    assert (medication_list.subject.identifier.system, medication_list.subject.identifier.value) == (
        FNR,
        patient_id,
    )

    response, statement = _statement(fhir, patient_id, entry["id"])
    assert response.headers["etag"] == 'W/"1"'
    assert statement.status == "active"
    codes = {coding.system: coding.code for coding in statement.medicationCodeableConcept.coding}
    assert codes == {
        ATC: "N06AA09",
        MERKEVARE: product["merkevare_id"],
        VARENR: "342044",
        VIRKESTOFF: "ID_AMITRIPTYLIN",
    }
    assert statement.medicationCodeableConcept.text == "Amitriptylin Abcur tablett 50 mg"
    assert statement.dosage[0].text == "1 tablett morgen og kveld"
    assert [d.timing.repeat.when for d in statement.dosage] == [["MORN"], ["EVE"]]
    assert {float(d.doseAndRate[0].doseQuantity.value) for d in statement.dosage} == {1.0}
    assert statement.dosage[0].doseAndRate[0].doseQuantity.unit == "tablett"
    assert statement.reasonCode[0].text == "nevropatisk smerte"
    assert str(statement.effectivePeriod.start) == "2026-01-05"


def test_search_bundles_hold_the_list_and_its_statements(fhir: Fhir, lists: ListClient) -> None:
    patient_id = new_patient_id()
    first = _add(lists, patient_id, 0)
    _add(lists, patient_id, 1, display_name="Paracet tablett 500 mg", atc="N02BE01")
    paused = lists.write(
        "POST", patient_id, f"/entries/{first['id']}/pause", {"reason": "operasjon"}, version=2
    )
    assert paused.status_code == 200
    _, bundle = fhir.get("/List", params={"patient": f"Patient/{patient_id}", "_include": "List:item"})
    assert isinstance(bundle, Bundle)
    assert bundle.type == "searchset"
    kinds = [(e.resource.get_resource_type(), e.search.mode) for e in bundle.entry]
    assert kinds == [
        ("List", "match"),
        ("MedicationStatement", "include"),
        ("MedicationStatement", "include"),
    ]
    _, on_hold = fhir.get("/MedicationStatement", params={"patient": patient_id, "status": "on-hold"})
    assert [e.resource.status for e in on_hold.entry] == ["on-hold"]
    assert on_hold.entry[0].resource.statusReason[0].text == "operasjon"


# -- updates -------------------------------------------------------------------------------------------------


def test_an_update_with_if_match_changes_the_entry_and_leaves_provenance(
    fhir: Fhir, lists: ListClient
) -> None:
    patient_id = new_patient_id()
    entry = _add(lists, patient_id, 0)
    path = f"/MedicationStatement/{patient_id}-{entry['id']}"
    _, statement = _statement(fhir, patient_id, entry["id"])
    statement.dosage = statement.dosage[:1]
    statement.dosage[0].text = "1 tablett morgen"
    response, updated = fhir.put(path, statement, if_match='W/"1"')
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'
    assert updated.meta.versionId == "2"
    assert response.headers["location"].endswith(f"{path}/_history/2")
    stored = lists.read(patient_id).json()["entries"][0]
    assert stored["dose_text"] == "1 tablett morgen"
    assert [dose["time_of_day"] for dose in stored["dosage"]["schedule"]] == ["morning"]

    response, provenance = fhir.get(f"/Provenance/{patient_id}-2")
    assert response.status_code == 200
    assert {t.reference for t in provenance.target} == {
        f"List/{patient_id}/_history/2",
        f"{path[1:]}/_history/2",
    }
    agent = provenance.agent[0]
    assert (agent.who.identifier.system, agent.who.identifier.value) == (HPR, "9144889")
    assert (agent.onBehalfOf.identifier.system, agent.onBehalfOf.identifier.value) == (ORGNR, "974703300")
    assert provenance.recorded is not None
    assert provenance.activity.coding[0].code == "UPDATE"


def test_a_stale_or_missing_if_match_is_refused_with_an_operation_outcome(
    fhir: Fhir, lists: ListClient
) -> None:
    patient_id = new_patient_id()
    entry = _add(lists, patient_id, 0)
    path = f"/MedicationStatement/{patient_id}-{entry['id']}"
    _, statement = _statement(fhir, patient_id, entry["id"])
    changed = lists.write("PATCH", patient_id, f"/entries/{entry['id']}", {"note": "endret"}, version=1)
    assert changed.status_code == 200
    statement.note = [{"text": "mitt notat"}]
    response, outcome = fhir.put(path, statement, if_match='W/"1"')
    assert response.status_code == 412
    assert _outcome_code(outcome) == "version-conflict"
    response, outcome = fhir.put(path, statement, if_match=None)
    assert response.status_code == 428
    assert _outcome_code(outcome) == "precondition-required"
    assert lists.read(patient_id).json()["entries"][0]["note"] == "endret"


def test_another_entry_changing_does_not_make_a_statement_stale(fhir: Fhir, lists: ListClient) -> None:
    patient_id = new_patient_id()
    entry = _add(lists, patient_id, 0)
    _, statement = _statement(fhir, patient_id, entry["id"])
    _add(lists, patient_id, 1, display_name="Paracet tablett 500 mg", atc="N02BE01")
    statement.note = [{"text": "tas med mat"}]
    response, updated = fhir.put(
        f"/MedicationStatement/{patient_id}-{entry['id']}", statement, if_match='W/"1"'
    )
    assert response.status_code == 200, response.text
    assert updated.meta.versionId == "3"


def test_writing_back_what_was_read_makes_no_new_version(fhir: Fhir, lists: ListClient) -> None:
    patient_id = new_patient_id()
    entry = _add(
        lists,
        patient_id,
        0,
        strength="500 mg",
        form="tablett",
        prescription_id="RESEPT-1",
        note="tas med mat",
        indication="diabetes",
    )
    _, statement = _statement(fhir, patient_id, entry["id"])
    response, unchanged = fhir.put(
        f"/MedicationStatement/{patient_id}-{entry['id']}", statement, if_match='W/"1"'
    )
    assert response.status_code == 200, response.text
    assert unchanged.meta.versionId == "1"
    assert lists.version(patient_id) == 1


def test_status_changes_through_fhir_follow_the_list_rules(fhir: Fhir, lists: ListClient) -> None:
    patient_id = new_patient_id()
    entry = _add(lists, patient_id, 0)
    path = f"/MedicationStatement/{patient_id}-{entry['id']}"
    _, statement = _statement(fhir, patient_id, entry["id"])
    statement.status = "on-hold"
    statement.statusReason = [{"text": "innleggelse"}]
    response, paused = fhir.put(path, statement, if_match='W/"1"')
    assert response.status_code == 200
    assert paused.status == "on-hold"
    assert lists.read(patient_id).json()["entries"][0]["status"] == "paused"
    paused.status, paused.statusReason = "stopped", None
    response, outcome = fhir.put(path, paused, if_match='W/"2"')
    assert response.status_code == 422
    assert "statusReason" in outcome.issue[0].diagnostics
    paused.statusReason = [{"text": "bivirkning"}]
    response, stopped = fhir.put(path, paused, if_match='W/"2"')
    assert response.status_code == 200
    assert stopped.status == "stopped"
    stored = lists.read(patient_id).json()["entries"][0]
    assert (stored["status"], stored["status_reason"]) == ("stopped", "bivirkning")
    stopped.status = "active"
    response, outcome = fhir.put(path, stopped, if_match='W/"3"')
    assert response.status_code == 409
    assert _outcome_code(outcome) == "invalid-status-transition"


def test_what_pml_cannot_store_is_refused_not_dropped(fhir: Fhir, lists: ListClient) -> None:
    patient_id = new_patient_id()
    entry = _add(lists, patient_id, 0)
    path = f"/MedicationStatement/{patient_id}-{entry['id']}"
    _, statement = _statement(fhir, patient_id, entry["id"])
    coded = statement.model_dump(mode="json")
    coded["medicationCodeableConcept"]["coding"].append(
        {"system": "http://snomed.info/sct", "code": "325278007"}
    )
    response, outcome = fhir.put(path, coded, if_match='W/"1"')
    assert response.status_code == 422
    assert _outcome_code(outcome) == "fhir-unsupported-medication"
    ranged = statement.model_dump(mode="json")
    ranged["dosage"][0]["doseAndRate"] = [{"doseRange": {"low": {"value": 1}, "high": {"value": 2}}}]
    response, outcome = fhir.put(path, ranged, if_match='W/"1"')
    assert response.status_code == 422
    assert _outcome_code(outcome) == "fhir-unsupported-dosage"
    response, outcome = fhir.put(
        f"/MedicationStatement/{patient_id}-{uuid.uuid4()}", statement, if_match='W/"1"'
    )
    assert response.status_code == 400
    assert _outcome_code(outcome) == "fhir-bad-request"
    assert lists.version(patient_id) == 1


# -- history and vread ---------------------------------------------------------------------------------------


def test_history_and_vread_show_every_version(fhir: Fhir, lists: ListClient) -> None:
    patient_id = new_patient_id()
    entry = _add(lists, patient_id, 0, dose_text="1 tablett morgen og kveld")
    _add(lists, patient_id, 1, display_name="Paracet tablett 500 mg", atc="N02BE01")
    lists.write(
        "PATCH", patient_id, f"/entries/{entry['id']}", {"dose_text": "2 tabletter morgen"}, version=2
    )
    statement_path = f"/MedicationStatement/{patient_id}-{entry['id']}"

    _, history = fhir.get(f"{statement_path}/_history")
    assert history.type == "history"
    assert [e.resource.meta.versionId for e in history.entry] == ["3", "1"]
    assert [e.request.method for e in history.entry] == ["PUT", "POST"]
    _, old = fhir.get(f"{statement_path}/_history/1")
    assert old.dosage[0].text == "1 tablett morgen og kveld"
    response, outcome = fhir.get(f"{statement_path}/_history/2")  # version 2 added another entry
    assert response.status_code == 404
    assert outcome.get_resource_type() == "OperationOutcome"

    _, list_history = fhir.get(f"/List/{patient_id}/_history", params={"_count": 2})
    assert [e.resource.meta.versionId for e in list_history.entry] == ["3", "2"]
    next_link = next(link.url for link in list_history.link if link.relation == "next")
    _, older = fhir.get(next_link.split("/fhir/R4", 1)[1])
    assert [e.resource.meta.versionId for e in older.entry] == ["1"]
    _, first = fhir.get(f"/List/{patient_id}/_history/1")
    assert len(first.entry) == 1

    _, provenance = fhir.get("/Provenance", params={"target": statement_path[1:]})
    assert [p.id for p in (e.resource for e in provenance.entry)] == [f"{patient_id}-3", f"{patient_id}-1"]
    assert [e.resource.activity.coding[0].code for e in provenance.entry] == ["UPDATE", "CREATE"]


# -- errors, access and audit --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/Patient/123", 404, "not-found"),
        ("/List/12345678901", 404, "fhir-resource-not-found"),  # not a valid national id
        ("/MedicationStatement/not-an-id", 404, "fhir-resource-not-found"),
        ("/Provenance?patient=08894025760&target=List/08894025760", 400, "fhir-bad-request"),
        ("/List/08894025760/_history?_count=0", 400, "validation-error"),
    ],
)
def test_errors_are_operation_outcomes(fhir: Fhir, path: str, status: int, code: str) -> None:
    response, outcome = fhir.get(path)
    assert response.status_code == status, response.text
    assert _outcome_code(outcome) == code


def test_only_json_is_served(fhir: Fhir) -> None:
    response, outcome = fhir.get(f"/List/{new_patient_id()}", params={"_format": "xml"})
    assert response.status_code == 406
    assert outcome.issue[0].code == "not-supported"
    response, _ = fhir.get(f"/List/{new_patient_id()}", headers={"Accept": "application/json"})
    assert response.status_code == 200


def test_an_unsupported_method_on_a_known_path_is_405(fhir: Fhir) -> None:
    response, outcome = fhir.request("DELETE", f"/List/{new_patient_id()}")
    assert response.status_code == 405
    assert outcome.issue[0].code == "not-supported"


def test_fhir_reads_need_a_token_and_are_audited(anonymous: Fhir, fhir: Fhir, database_url: str) -> None:
    patient_id = new_patient_id()
    response, outcome = anonymous.get(f"/List/{patient_id}")
    assert response.status_code == 401
    assert outcome.issue[0].code == "login"
    assert fhir.get(f"/List/{patient_id}")[0].status_code == 200
    rows = query(
        database_url, "SELECT action, outcome, purpose FROM audit_record WHERE patient_id = %s", patient_id
    )
    assert rows == [("fhir_read_list", "success", "TREAT")]
