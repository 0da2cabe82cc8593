"""CDS Hooks 2.0 over real HTTP: discovery, order-select and order-sign against the real FEST extract and the
patient's shared list, cards checked against the shapes the specification gives, and the feedback endpoint.

The expected shapes below are written from the CDS Hooks 2.0 specification (https://cds-hooks.hl7.org/2.0/,
sections Discovery, CDS Service Response / Card Attributes, Feedback), not from PML's code."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.catalogue import AMITRIPTYLIN_CT_25_VARENR, PERIKUM_SUBSTANCE_ID, query
from tests.support.client import ListClient
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess

ATC = "http://www.whocc.no/atc"
VIRKESTOFF = "http://dmp.no/fhir/NamingSystem/festLegemiddelVirkestoff"
VARENR = "http://dmp.no/fhir/NamingSystem/fest-varenummer"
SELECT = "pml-interactions-order-select"
SIGN = "pml-interactions-order-sign"

# -- the specification's shapes: field -> (required, check) --------------------------------------------------

Shape = dict[str, tuple[bool, Callable[[Any], bool]]]


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _uuid(value: Any) -> bool:
    return isinstance(value, str) and str(uuid.UUID(value)) == value


def _objects(shape: Shape) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(_conforms(item, shape) for item in value)


def _one_of(*allowed: str) -> Callable[[Any], bool]:
    return lambda value: value in allowed


CODING: Shape = {"system": (True, _string), "code": (True, _string), "display": (True, _string)}
SERVICE: Shape = {
    "hook": (True, _string),
    "title": (False, _string),
    "description": (True, _string),
    "id": (True, _string),
    "prefetch": (False, lambda v: isinstance(v, dict) and all(map(_string, v.values()))),
    "usageRequirements": (False, _string),
}
SOURCE: Shape = {
    "label": (True, _string),
    "url": (False, _string),
    "icon": (False, _string),
    "topic": (False, lambda v: _conforms(v, CODING)),
}
ACTION: Shape = {
    "type": (True, _one_of("create", "update", "delete")),
    "description": (True, _string),
    "resource": (False, lambda v: isinstance(v, dict)),
    "resourceId": (False, _string),
}
SUGGESTION: Shape = {
    "label": (True, _string),
    "uuid": (False, _uuid),
    "isRecommended": (False, lambda v: isinstance(v, bool)),
    "actions": (False, _objects(ACTION)),
}
LINK: Shape = {
    "label": (True, _string),
    "url": (True, _string),
    "type": (True, _one_of("absolute", "smart")),
    "appContext": (False, _string),
}
CARD: Shape = {
    "uuid": (False, _uuid),
    "summary": (True, lambda v: _string(v) and len(v) < 140),
    "detail": (False, _string),
    "indicator": (True, _one_of("info", "warning", "critical")),
    "source": (True, lambda v: _conforms(v, SOURCE)),
    "suggestions": (False, _objects(SUGGESTION)),
    "selectionBehavior": (False, _one_of("at-most-one", "any")),
    "overrideReasons": (False, _objects(CODING)),
    "links": (False, _objects(LINK)),
}
RESPONSE: Shape = {"cards": (True, _objects(CARD)), "systemActions": (False, _objects(ACTION))}


def _conforms(value: Any, shape: Shape) -> bool:
    if not isinstance(value, dict) or set(value) - set(shape):
        return False
    return all(
        (name in value and check(value[name])) if required else (name not in value or check(value[name]))
        for name, (required, check) in shape.items()
    )


def _assert_response_shape(body: dict[str, Any]) -> None:
    assert _conforms(body, RESPONSE), body
    for card in body["cards"]:
        assert "suggestions" not in card or "selectionBehavior" in card  # "MUST also be provided"


# -- requests ------------------------------------------------------------------------------------------------


def _medication_request(request_id: str, text: str, *codings: tuple[str, str]) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if codings:
        concept["coding"] = [{"system": system, "code": code} for system, code in codings]
    return {
        "resourceType": "MedicationRequest",
        "id": request_id,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": "Patient/1"},
    }


def _hook_call(
    hook: str,
    patient_id: str,
    *drafts: dict[str, Any],
    selections: list[str] | None = None,
    prefetch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "userId": "Practitioner/9144889",
        "patientId": patient_id,
        "draftOrders": {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": draft} for draft in drafts],
        },
    }
    if selections is not None:
        context["selections"] = selections
    call: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    return call | ({"prefetch": prefetch} if prefetch is not None else {})


PERIKUM = _medication_request("perikum-1", "Johannesurt (perikum)", (VIRKESTOFF, PERIKUM_SUBSTANCE_ID))
TERBINAFIN = _medication_request("terbinafin-1", "Terbinafin tablett 250 mg", (ATC, "D01BA02"))
PARACET = _medication_request("paracet-1", "Paracet tablett 500 mg", (ATC, "N02BE01"))


@pytest.fixture
def cds(live_server: ServerProcess, prescriber_token: str) -> Iterator[httpx.Client]:
    client = httpx.Client(
        base_url=f"{live_server.base_url}/cds-services",
        timeout=10,
        headers={"Authorization": f"Bearer {prescriber_token}"},
    )
    yield client
    client.close()


@pytest.fixture
def on_amitriptylin(lists: ListClient) -> str:
    """A patient whose shared list holds amitriptylin, by package number."""
    patient_id = new_patient_id()
    body = entry_body(display_name="Amitriptylin-CT tablett 25 mg", atc=None)
    response = lists.add(patient_id, body | {"product": {"varenr": AMITRIPTYLIN_CT_25_VARENR}}, version=0)
    assert response.status_code == 201, response.text
    return patient_id


def _call(cds: httpx.Client, service: str, body: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    response = cds.post(f"/{service}", json=body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    assert elapsed < 0.5, f"{service} answered in {elapsed * 1000:.0f} ms; the specification suggests 500 ms"
    answer: dict[str, Any] = response.json()
    _assert_response_shape(answer)
    return answer


# -- discovery -----------------------------------------------------------------------------------------------


def test_discovery_lists_both_order_services(live_server: ServerProcess) -> None:
    response = httpx.get(f"{live_server.base_url}/cds-services")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"services"}
    assert all(_conforms(s, SERVICE) for s in body["services"])
    assert {(s["id"], s["hook"]) for s in body["services"]} == {
        (SELECT, "order-select"),
        (SIGN, "order-sign"),
    }


# -- cards ---------------------------------------------------------------------------------------------------


def test_order_sign_warns_of_interactions_with_the_shared_list(
    cds: httpx.Client, on_amitriptylin: str
) -> None:
    answer = _call(cds, SIGN, _hook_call("order-sign", on_amitriptylin, PERIKUM, TERBINAFIN))
    by_indicator = {card["indicator"]: card for card in answer["cards"]}
    assert set(by_indicator) == {"critical", "warning"}, answer
    critical, warning = by_indicator["critical"], by_indicator["warning"]
    assert "Perikum" in critical["summary"]
    assert "bør unngås" in critical["summary"]
    assert "forholdsregler" in warning["summary"].lower()
    for card in (critical, warning):
        assert "**Konsekvens:**" in card["detail"]
        assert "**Håndtering:**" in card["detail"]
        assert "katalogutgave" in card["source"]["label"]
        assert len(card["overrideReasons"]) >= 2
        (suggestion,) = card["suggestions"]
        assert suggestion["actions"][0]["type"] == "delete"
    assert critical["suggestions"][0]["actions"][0]["resourceId"] == "MedicationRequest/perikum-1"


def test_the_source_label_names_the_active_catalogue_release(
    cds: httpx.Client, on_amitriptylin: str, catalogue_release_id: str
) -> None:
    (card,) = _call(cds, SIGN, _hook_call("order-sign", on_amitriptylin, TERBINAFIN))["cards"]
    assert f"katalogutgave {catalogue_release_id}," in card["source"]["label"]


def test_no_finding_gives_an_empty_card_list(cds: httpx.Client, on_amitriptylin: str) -> None:
    assert _call(cds, SIGN, _hook_call("order-sign", on_amitriptylin, PARACET)) == {"cards": []}


def test_order_select_answers_for_the_selected_orders_only(cds: httpx.Client, on_amitriptylin: str) -> None:
    call = _hook_call(
        "order-select", on_amitriptylin, PERIKUM, TERBINAFIN, selections=["MedicationRequest/terbinafin-1"]
    )
    (card,) = _call(cds, SELECT, call)["cards"]
    assert card["indicator"] == "warning"
    assert "Terbinafin" in card["summary"]


def test_drafts_that_cannot_be_checked_say_so(cds: httpx.Client, on_amitriptylin: str) -> None:
    unknown = _medication_request("ukjent-1", "Ukjent pakning", (VARENR, "999999"))
    betanekol = _medication_request("betanekol-1", "Betanekol", (ATC, "N07AB02"))
    cards = _call(cds, SIGN, _hook_call("order-sign", on_amitriptylin, unknown, betanekol))["cards"]
    summaries = sorted(card["summary"] for card in cards)
    assert summaries == [
        "Betanekol: ikke vurdert for interaksjoner i FEST",
        "Interaksjoner ikke sjekket for Ukjent pakning",
    ]
    assert {card["indicator"] for card in cards} == {"info"}


def test_a_prefetched_list_is_checked_instead_of_reading_the_shared_one(cds: httpx.Client) -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "subject": {"display": "x"},
        "medicationCodeableConcept": {"text": "Amitriptylin", "coding": [{"system": ATC, "code": "N06AA09"}]},
    }
    prefetch = {
        "medications": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": statement}]}
    }
    (card,) = _call(cds, SIGN, _hook_call("order-sign", new_patient_id(), TERBINAFIN, prefetch=prefetch))[
        "cards"
    ]
    assert card["indicator"] == "warning"


def test_a_hook_call_is_audited_and_its_cards_recorded(
    cds: httpx.Client, on_amitriptylin: str, database_url: str
) -> None:
    call = _hook_call("order-sign", on_amitriptylin, TERBINAFIN)
    (card,) = _call(cds, SIGN, call)["cards"]
    audit = query(
        database_url,
        "SELECT action, purpose FROM audit_record WHERE patient_id = %s AND action = %s",
        on_amitriptylin,
        "cds_hook",
    )
    assert audit == [("cds_hook", "TREAT")]
    issued = query(
        database_url,
        "SELECT service_id, indicator, hook_instance::text FROM cds_card WHERE card_uuid = %s",
        card["uuid"],
    )
    assert issued == [(SIGN, "warning", call["hookInstance"])]


@pytest.mark.parametrize(
    ("service", "change"),
    [
        (SIGN, {"hook": "order-select"}),  # the service answers another hook
        (SELECT, {"hook": "order-select"}),  # order-select without selections
        ("no-such-service", {}),
    ],
)
def test_bad_hook_calls_are_refused(cds: httpx.Client, service: str, change: dict[str, Any]) -> None:
    call = _hook_call("order-sign", new_patient_id(), TERBINAFIN) | change
    assert cds.post(f"/{service}", json=call).status_code in (404, 422)


# -- feedback ------------------------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def test_feedback_records_overridden_and_accepted_cards(
    cds: httpx.Client, on_amitriptylin: str, database_url: str
) -> None:
    cards = _call(cds, SIGN, _hook_call("order-sign", on_amitriptylin, PERIKUM, TERBINAFIN))["cards"]
    critical = next(card for card in cards if card["indicator"] == "critical")
    warning = next(card for card in cards if card["indicator"] == "warning")
    reason = warning["overrideReasons"][0]
    feedback = {
        "feedback": [
            {
                "card": warning["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": _now(),
                "overrideReason": {"reason": reason, "userComment": "følger leverprøver"},
            },
            {
                "card": critical["uuid"],
                "outcome": "accepted",
                "outcomeTimestamp": _now(),
                "acceptedSuggestions": [{"id": critical["suggestions"][0]["uuid"]}],
            },
        ]
    }
    response = cds.post(f"/{SIGN}/feedback", json=feedback)
    assert response.status_code == 200, response.text
    rows = query(
        database_url,
        "SELECT card_uuid::text, outcome, override_reason->>'code', user_comment "
        "FROM cds_feedback WHERE patient_id = %s ORDER BY outcome",
        on_amitriptylin,
    )
    assert rows == [
        (critical["uuid"], "accepted", None, None),
        (warning["uuid"], "overridden", reason["code"], "følger leverprøver"),
    ]


def test_feedback_on_a_card_pml_never_issued_is_refused(cds: httpx.Client, on_amitriptylin: str) -> None:
    unknown = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": _now()}]}
    assert cds.post(f"/{SIGN}/feedback", json=unknown).status_code == 404
    (card,) = _call(cds, SIGN, _hook_call("order-sign", on_amitriptylin, TERBINAFIN))["cards"]
    wrong = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "outcomeTimestamp": _now(),
                "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
            }
        ]
    }
    assert cds.post(f"/{SIGN}/feedback", json=wrong).status_code == 422
