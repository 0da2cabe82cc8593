"""Interaction checks over real HTTP against the real FEST extract, loaded and activated before the server
started: the five DMP records behave as DMP's implementation guide says, and a patient's list built through
the /v1 API is checked with the entries named."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pml.auth.tokens import DevelopmentClaims
from pml.settings import Settings
from tests.support.catalogue import (
    AMITRIPTYLIN_ABCUR_25_ID,
    AMITRIPTYLIN_CT_25_VARENR,
    FENTANYL_AMITRIPTYLIN_ID,
    PERIKUM_SUBSTANCE_ID,
    SIMEPREVIR_POSAKONAZOL_ID,
    TERBINAFIN_AMITRIPTYLIN_ID,
)
from tests.support.client import ListClient, make_token
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess

JOHANNESURT_ID = "ID_35372C90-94D0-4F04-A7E3-9F940100EDC2"


def _check(http: httpx.Client, *items: tuple[str, str], **options: Any) -> dict[str, Any]:
    body = {"items": [{"kind": kind, "value": value} for kind, value in items], **options}
    response = http.post("/v1/interactions/check", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _only_finding(result: dict[str, Any]) -> dict[str, Any]:
    assert len(result["findings"]) == 1, result["findings"]
    finding: dict[str, Any] = result["findings"][0]
    return finding


# -- the five records of the extract -------------------------------------------------------------------------


def test_simeprevir_with_posakonazol_should_be_avoided(lists: ListClient, catalogue_release_id: str) -> None:
    result = _check(lists.http, ("atc", "J05AP05"), ("atc", "J02AC04"))
    finding = _only_finding(result)
    assert (finding["interaction_id"], finding["relevans"], finding["relevans_text"]) == (
        SIMEPREVIR_POSAKONAZOL_ID, 1, "Bør unngås"
    )  # fmt: skip
    assert (finding["first"]["substance"], finding["second"]["substance"]) == ("Simeprevir", "Posakonazol")
    assert (finding["source_basis"], finding["source_basis_text"]) == ("4", "Indirekte data")
    assert finding["clinical_consequence"]
    assert finding["references"]
    assert result["release_id"] == finding["release_id"] == catalogue_release_id
    assert result["hentet_dato"] == "2026-09-08T03:09:06"


def test_terbinafin_with_amitriptylin_takes_precautions_above_a_dose(lists: ListClient) -> None:
    finding = _only_finding(_check(lists.http, ("atc", "D01BA02"), ("varenr", AMITRIPTYLIN_CT_25_VARENR)))
    assert (finding["interaction_id"], finding["relevans"]) == (TERBINAFIN_AMITRIPTYLIN_ID, 2)
    assert finding["relevans_text"] == "Forholdsregler bør tas"
    assert finding["situation_criterion"] == "Gjelder ved amitriptylindoser større eller lik 75 mg daglig."
    assert len(finding["handling"].splitlines()) == 2, "two paragraphs of handling advice"
    assert finding["mechanism"].startswith("Terbinafin hemmer metabolisme")
    assert sorted(finding["display_rules"]) == [1, 2, 3, 4]
    assert (finding["second"]["kind"], finding["second"]["value"]) == ("varenr", AMITRIPTYLIN_CT_25_VARENR)


def test_the_level4_group_n06aa_covers_amitriptylin_against_perikum(lists: ListClient) -> None:
    product = _only_finding(
        _check(lists.http, ("substance", PERIKUM_SUBSTANCE_ID), ("product", AMITRIPTYLIN_ABCUR_25_ID))
    )
    assert (product["interaction_id"], product["relevans"]) == (JOHANNESURT_ID, 1)
    # N06AA22 is not listed in the record: only the level-4 code N06AA covers it.
    unlisted = _only_finding(_check(lists.http, ("substance", PERIKUM_SUBSTANCE_ID), ("atc", "N06AA22")))
    assert (unlisted["interaction_id"], unlisted["second"]["atc"]) == (JOHANNESURT_ID, "N06AA")


def test_perikum_without_atc_matches_by_virkestoff_id(lists: ListClient) -> None:
    finding = _only_finding(_check(lists.http, ("atc", "N06AA09"), ("substance", PERIKUM_SUBSTANCE_ID)))
    perikum = finding["first"]
    assert (perikum["kind"], perikum["value"], perikum["substance"], perikum["atc"]) == (
        "substance", PERIKUM_SUBSTANCE_ID, "Perikum", None
    )  # fmt: skip
    assert perikum["group_name"] == "Johannesurt"


def test_fentanyl_with_amitriptylin_is_relevans_3_silent_unless_asked(lists: ListClient) -> None:
    items = (("atc", "N02AB03"), ("product", AMITRIPTYLIN_ABCUR_25_ID))
    assert _check(lists.http, *items)["findings"] == []
    finding = _only_finding(_check(lists.http, *items, include_relevans_3=True))
    assert (finding["interaction_id"], finding["relevans"], finding["relevans_text"]) == (
        FENTANYL_AMITRIPTYLIN_ID, 3, "Ingen tiltak nødvendig"
    )  # fmt: skip


def test_betanekol_is_not_assessed_which_is_not_no_interaction(lists: ListClient) -> None:
    result = _check(lists.http, ("atc", "N07AB02"), ("atc", "N06AA09"))
    assert result["findings"] == []
    assert [(n["value"], n["atc"]) for n in result["not_assessed"]] == [("N07AB02", "N07AB02")]


def test_visningsregel_shows_a_record_only_in_the_settings_it_lists(lists: ListClient) -> None:
    items = (("atc", "D01BA02"), ("atc", "N06AA09"))
    assert [f["relevans"] for f in _check(lists.http, *items, visningsregel=3)["findings"]] == [2]
    assert _check(lists.http, *items, visningsregel=5)["findings"] == []


def test_unknown_items_come_back_unresolved(lists: ListClient) -> None:
    result = _check(lists.http, ("product", "ID_NOT-IN-FEST"), ("varenr", "000000"), ("atc", "J05AP05"))
    assert {(u["kind"], u["value"]) for u in result["unresolved"]} == {
        ("product", "ID_NOT-IN-FEST"),
        ("varenr", "000000"),
    }


def test_a_name_is_resolved_only_when_the_search_is_sure(lists: ListClient) -> None:
    result = _check(lists.http, ("name", "Sarotex 25"), ("atc", "D01BA02"))
    assert [f["relevans"] for f in result["findings"]] == [2]
    assert result["resolved_names"][0]["product"]["name_form_strength"] == "Sarotex tab 25 mg"


@pytest.mark.parametrize(
    "body",
    [{"items": []}, {"items": [{"kind": "brand", "value": "x"}]}, {"items": [{"kind": "atc", "value": ""}]},
     {"items": [{"kind": "atc", "value": "N06AA09"}], "visningsregel": 9}],
)  # fmt: skip
def test_an_invalid_check_is_a_422_problem(lists: ListClient, body: dict[str, Any]) -> None:
    response = lists.http.post("/v1/interactions/check", json=body)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/validation-error")


def test_who_may_check(live_server: ServerProcess, server_settings: Settings) -> None:
    body = {"items": [{"kind": "atc", "value": "J05AP05"}, {"kind": "atc", "value": "J02AC04"}]}
    for role, status in (("nurse", 200), ("pharmacist", 200), ("admin", 403), ("auditor", 403)):
        token = make_token(server_settings, DevelopmentClaims(subject=f"test-{role}", role=role))
        response = httpx.post(f"{live_server.base_url}/v1/interactions/check", json=body,
                              headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert response.status_code == status, (role, response.text)
    assert httpx.post(f"{live_server.base_url}/v1/interactions/check", json=body).status_code == 401


# -- a patient's list ----------------------------------------------------------------------------------------


def _add(lists: ListClient, patient_id: str, version: int, name: str, **product: str) -> str:
    body = entry_body(display_name=name, atc=None, product=product)
    response = lists.add(patient_id, body, version=version)
    assert response.status_code == 201, response.text
    entry_id: str = response.json()["entry"]["id"]
    return entry_id


def _patient_with_list(lists: ListClient) -> tuple[str, dict[str, str]]:
    """Amitriptylin by varenr, terbinafin by ATC, and simeprevir (stopped) with posakonazol."""
    patient_id = new_patient_id()
    entries = {
        "amitriptylin": _add(lists, patient_id, 0, "Amitriptylin-CT 25 mg", varenr=AMITRIPTYLIN_CT_25_VARENR),
        "terbinafin": _add(lists, patient_id, 1, "Terbinafin 250 mg", atc="D01BA02"),
        "simeprevir": _add(lists, patient_id, 2, "Simeprevir 150 mg", atc="J05AP05"),
        "posakonazol": _add(lists, patient_id, 3, "Posakonazol 100 mg", atc="J02AC04"),
    }
    stopped = lists.write("POST", patient_id, f"/entries/{entries['simeprevir']}/stop",
                          {"reason": "kur fullført"}, version=4)  # fmt: skip
    assert stopped.status_code == 200, stopped.text
    return patient_id, entries


def test_a_patients_active_entries_are_checked_and_named(
    lists: ListClient, catalogue_release_id: str
) -> None:
    patient_id, entries = _patient_with_list(lists)
    response = lists.http.get(f"/v1/patients/{patient_id}/interactions")
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["patient_id"], result["list_version"], result["release_id"]) == (
        patient_id,
        5,
        catalogue_release_id,
    )
    finding = _only_finding(result)  # the stopped simeprevir no longer meets posakonazol
    assert finding["interaction_id"] == TERBINAFIN_AMITRIPTYLIN_ID
    assert (finding["first"]["entry_ids"], finding["first"]["label"]) == (
        [entries["terbinafin"]],
        "Terbinafin 250 mg",
    )
    assert finding["second"]["entry_ids"] == [entries["amitriptylin"]]
    assert result["unresolved"] == []
    assert result["duplications"] == []


def test_proposed_additions_are_checked_with_the_list(lists: ListClient) -> None:
    patient_id, entries = _patient_with_list(lists)
    proposed = [{"kind": "substance", "value": PERIKUM_SUBSTANCE_ID, "label": "Johannesurt te"},
                {"kind": "product", "value": AMITRIPTYLIN_ABCUR_25_ID}]  # fmt: skip
    response = lists.http.post(f"/v1/patients/{patient_id}/interactions", json={"proposed": proposed})
    assert response.status_code == 200, response.text
    result = response.json()
    perikum = [f for f in result["findings"] if f["interaction_id"] == JOHANNESURT_ID]
    assert perikum
    assert all(f["first"]["proposed"] and f["first"]["label"] == "Johannesurt te" for f in perikum)
    (duplication,) = result["duplications"]
    assert duplication["atc"] == "N06AA09"
    assert {(i["proposed"], tuple(i["entry_ids"])) for i in duplication["items"]} == {
        (False, (entries["amitriptylin"],)), (True, ())
    }  # fmt: skip


def test_an_empty_list_has_nothing_to_report(lists: ListClient) -> None:
    result = lists.http.get(f"/v1/patients/{new_patient_id()}/interactions").json()
    assert (result["list_version"], result["findings"], result["unresolved"]) == (0, [], [])


def test_a_patient_check_needs_a_valid_national_id(lists: ListClient) -> None:
    response = lists.http.get("/v1/patients/12345678901/interactions")
    assert response.status_code == 422
    assert response.json()["type"].endswith("/invalid-national-id")
