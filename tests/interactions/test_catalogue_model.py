"""Catalogue records survive the JSON (JSONB) round trip, one kind at a time and as a whole."""

import json
from typing import Any

import pytest

from interactions.factories import (
    make_catalogue,
    make_interaction,
    make_not_assessed,
    make_package,
    make_product,
    make_strength,
    make_substance,
    member,
)
from interactions.model import (
    RECORD_TYPES,
    Catalogue,
    CatalogueRecord,
    SubstanceWithStrength,
    SwapGroup,
    catalogue_from_rows,
    record_from_dict,
)


def _through_json(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(data))
    return result


def _one_of_each() -> list[CatalogueRecord]:
    substance = make_substance(name="Amitriptylin", related_ids=["ID_SALT"])
    strength = make_strength(substance=substance, value="9.6", combination_atc="R05DA04")
    product = make_product(
        brand_name="Sarotex",
        name_form_strength="Sarotex tab 10 mg",
        atc="N06AA09",
        strengths=[strength],
        status="U",
    )
    return [
        substance,
        strength,
        product,
        make_package(product=product, varenr="079353", ean="5060353000015"),
        SwapGroup(id="ID_BG", code="002255", name="AMITRIPTYLIN TABLETT 10 MG"),
        make_interaction(
            first=[member("Perikum", None, ["ID_PERIKUM"]), member("Hyperici herba", "N06AX25")],
            second=[member("Ikke-selektive", "N06AA")],
            relevans=2,
            handling="Første avsnitt.\nAndre avsnitt.",
            display_rules=(1, 4),
        ),
        make_not_assessed(atc="N07AB02"),
    ]


@pytest.mark.parametrize("record", _one_of_each(), ids=lambda r: r.kind)
def test_every_record_kind_round_trips_through_json(record: CatalogueRecord) -> None:
    rebuilt = record_from_dict(record.kind, _through_json(record.to_dict()))
    assert rebuilt == record
    assert type(rebuilt) is type(record)


def test_every_kind_is_covered_by_the_round_trip_test() -> None:
    assert {record.kind for record in _one_of_each()} == set(RECORD_TYPES)


def test_catalogue_round_trips_through_json(extract_catalogue: Catalogue) -> None:
    rebuilt = Catalogue.from_dict(_through_json(extract_catalogue.to_dict()))
    assert rebuilt == extract_catalogue
    assert rebuilt.counts() == extract_catalogue.counts()


def test_catalogue_rebuilds_from_db_style_rows() -> None:
    records = _one_of_each()
    rows = [(record.kind, _through_json(record.to_dict())) for record in records]
    assert catalogue_from_rows("2026-01-01T00:00:00", rows) == make_catalogue(*records)


def test_status_u_is_inactive_and_a_is_active() -> None:
    records = _one_of_each()
    assert [record.active for record in records[:3]] == [True, True, False]


def test_handling_keeps_its_paragraphs() -> None:
    interaction = _one_of_each()[5]
    assert interaction.handling_paragraphs == ("Første avsnitt.", "Andre avsnitt.")  # type: ignore[union-attr]


def test_strength_text_with_and_without_denominator() -> None:
    plain = SubstanceWithStrength(id="a", substance_id="s", strength_value="50", strength_unit="mg")
    per_volume = SubstanceWithStrength(
        id="b",
        substance_id="s",
        strength_value="10",
        strength_unit="mg",
        denominator_value="5",
        denominator_unit="ml",
    )
    assert (plain.strength_text, per_volume.strength_text) == ("50 mg", "10 mg/5 ml")
