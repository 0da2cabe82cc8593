"""How checks understand what they are given: list entries by their most precise catalogue reference, names
only when the search is sure, duplicates however they arrive, and nothing unknown silently dropped.

Runs on the real extract compiled in memory; the database round trip is in test_catalogue_releases."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from interactions.factories import make_catalogue, make_product
from loaders.fest import parse_release
from pml.catalogue.checking import check_items, check_patient, resolve_name
from pml.catalogue.compiled import CompiledRelease, compile_release
from pml.catalogue.schemas import CheckItemIn, CheckOptions, PatientCheckRequest, ReleaseInfo
from pml.medication_list.schemas import Entry, EntryStatus, MedicationList, ProductRef
from tests.support.catalogue import (
    AMITRIPTYLIN_ABCUR_25_ID,
    AMITRIPTYLIN_CT_25_VARENR,
    EXTRACT,
    PERIKUM_SUBSTANCE_ID,
    TERBINAFIN_AMITRIPTYLIN_ID,
)

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def _release(release_id: str = "7") -> ReleaseInfo:
    return ReleaseInfo(
        id=release_id, source_name="test.xml", sha256="0" * 64, size_bytes=1,
        hentet_dato="2026-09-08T03:09:06", status="active", counts={}, withdrawn={}, skipped={},
        created_at=NOW, loaded_at=NOW, load_seconds=0.1, activated_at=NOW, error=None,
    )  # fmt: skip


@pytest.fixture(scope="module")
def compiled() -> CompiledRelease:
    records = parse_release(EXTRACT).catalogue.records()
    return compile_release(_release(), [(record.kind, record.to_dict()) for record in records])


def _entry(name: str, *, status: EntryStatus = EntryStatus.ACTIVE, **product: str) -> Entry:
    return Entry(
        id=uuid.uuid4(), display_name=name, product=ProductRef(**product), source="gp", status=status,
        created_version=1, updated_version=1,
    )  # fmt: skip


def _patient(*entries: Entry) -> MedicationList:
    return MedicationList(patient_id="15076500565", version=len(entries), entries=list(entries))


def _items(*pairs: tuple[str, str]) -> list[CheckItemIn]:
    return [CheckItemIn(kind=kind, value=value) for kind, value in pairs]  # type: ignore[arg-type]


def _pairs(result: Any) -> list[tuple[str, int]]:
    return [(f.interaction_id, f.relevans) for f in result.findings]


def test_an_entry_is_checked_by_its_most_precise_known_reference(compiled: CompiledRelease) -> None:
    precise = _entry("Amitriptylin 25", merkevare_id=AMITRIPTYLIN_ABCUR_25_ID, atc="N06AA09")
    fallback = _entry("Terbinafin", merkevare_id="ID_NOT-IN-THIS-RELEASE", atc="D01BA02")
    result = check_patient(compiled, _patient(precise, fallback), PatientCheckRequest())
    assert _pairs(result) == [(TERBINAFIN_AMITRIPTYLIN_ID, 2)]
    finding = result.findings[0]
    assert (finding.first.kind, finding.first.entry_ids) == ("atc", [fallback.id])
    assert (finding.second.kind, finding.second.value, finding.second.entry_ids) == (
        "product", AMITRIPTYLIN_ABCUR_25_ID, [precise.id]
    )  # fmt: skip
    assert (result.release_id, result.patient_id, result.unresolved) == ("7", "15076500565", [])


def test_unknown_and_unreferenced_entries_are_reported_not_dropped(compiled: CompiledRelease) -> None:
    unknown = _entry("Ukjent pakning", varenr="999999")
    free_text = _entry("Noe fra utlandet")
    result = check_patient(compiled, _patient(unknown, free_text), PatientCheckRequest())
    reasons = {item.label: (item.kind, item.entry_ids, item.reason) for item in result.unresolved}
    assert reasons["Ukjent pakning"] == (
        "varenr",
        [unknown.id],
        "catalogue release 7 does not know this product",
    )
    assert reasons["Noe fra utlandet"][0:2] == ("name", [free_text.id])


def test_only_active_entries_are_checked(compiled: CompiledRelease) -> None:
    stopped = _entry("Terbinafin", status=EntryStatus.STOPPED, atc="D01BA02")
    paused = _entry("Simeprevir", status=EntryStatus.PAUSED, atc="J05AP05")
    active = _entry("Amitriptylin", atc="N06AA09")
    assert check_patient(compiled, _patient(stopped, paused, active), PatientCheckRequest()).findings == []


def test_proposed_additions_are_checked_with_the_list_and_marked(compiled: CompiledRelease) -> None:
    on_list = _entry("Amitriptylin", varenr=AMITRIPTYLIN_CT_25_VARENR)
    request = PatientCheckRequest(proposed=_items(("substance", PERIKUM_SUBSTANCE_ID)))
    result = check_patient(compiled, _patient(on_list), request)
    assert [f.relevans for f in result.findings] == [1]
    perikum = result.findings[0].first
    assert (perikum.proposed, perikum.entry_ids, perikum.substance) == (True, [], "Perikum")
    assert result.findings[0].second.entry_ids == [on_list.id]


def test_the_same_substance_twice_is_duplication_however_it_is_referenced(compiled: CompiledRelease) -> None:
    by_code = [_entry("Amitriptylin A", atc="N06AA09"), _entry("Amitriptylin B", atc="N06AA09")]
    by_product = _entry("Amitriptylin Abcur", merkevare_id=AMITRIPTYLIN_ABCUR_25_ID)
    result = check_patient(compiled, _patient(*by_code, by_product), PatientCheckRequest())
    assert [d.atc for d in result.duplications] == ["N06AA09"]
    listed = {entry_id for item in result.duplications[0].items for entry_id in item.entry_ids}
    assert listed == {by_code[0].id, by_code[1].id, by_product.id}


def test_one_entry_is_no_duplication(compiled: CompiledRelease) -> None:
    result = check_patient(compiled, _patient(_entry("Amitriptylin", atc="N06AA09")), PatientCheckRequest())
    assert result.duplications == []


def test_a_sure_name_resolves_to_a_product_and_says_so(compiled: CompiledRelease) -> None:
    result = check_items(compiled, _items(("name", "amitriptylin 25"), ("atc", "d01ba02")), CheckOptions())
    assert _pairs(result) == [(TERBINAFIN_AMITRIPTYLIN_ID, 2)]
    (resolved,) = result.resolved_names
    assert resolved.name == "amitriptylin 25"
    assert "25 mg" in resolved.product.name_form_strength


def test_an_unknown_name_is_unresolved_and_nothing_is_guessed(compiled: CompiledRelease) -> None:
    result = check_items(compiled, _items(("name", "qwzxv"), ("atc", "D01BA02")), CheckOptions())
    assert result.findings == []
    assert [(u.kind, u.value, u.reason) for u in result.unresolved] == [
        ("name", "qwzxv", "no catalogue product matches this name")
    ]


def test_a_name_matching_different_substances_equally_is_ambiguous() -> None:
    twins = (
        make_product(brand_name="Tvilling", name_form_strength="Tvilling tab 10 mg", atc="A01AA01"),
        make_product(brand_name="Tvilling", name_form_strength="Tvilling tab 10 mg", atc="B01AA01"),
    )
    catalogue = make_catalogue(*twins)
    compiled = compile_release(
        _release(), [(record.kind, record.to_dict()) for record in catalogue.records()]
    )
    found, candidates = resolve_name(compiled, "tvilling 10")
    assert found is None
    assert {product.atc for product in candidates} == {"A01AA01", "B01AA01"}
