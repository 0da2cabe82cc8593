"""Reading what sources write: strengths, Norwegian dose texts, and names resolved against the catalogue."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pml.reconciliation.interpretation.dose_text import DoseKind, read_dose_text, same_regimen
from pml.reconciliation.interpretation.resolver import (
    MedicineRef,
    ResolutionMethod,
    Resolver,
    StrengthConflict,
)
from pml.reconciliation.interpretation.strength import Strength, parse_strength, parse_strengths
from tests.pml.reconciliation.test_findings import varenr_of

MG = "mg"


@pytest.mark.parametrize(
    ("text", "value", "unit", "per"),
    [
        ("500mg", "500", MG, None),
        ("Paracet 500mg tab", "500", MG, None),
        ("2,5 mg", "2.5", MG, None),
        ("1 g", "1000", MG, None),
        ("75 mcg", "0.075", MG, None),
        ("50 µg", "0.05", MG, None),
        ("50 mg/5 ml", "10", MG, "ml"),
        ("10 mg/ml", "10", MG, "ml"),
        ("25 mikrog/t", "0.025", MG, "time"),
        ("100 E/ml", "100", "E", "ml"),
        ("0,1 mg/dose", "0.1", MG, "dose"),
    ],
)
def test_strengths_are_read_into_one_comparable_form(
    text: str, value: str, unit: str, per: str | None
) -> None:
    assert parse_strength(text) == Strength(Decimal(value), unit, per)


def test_a_combination_strength_gives_each_part_and_a_bare_number_needs_a_unit() -> None:
    assert len(parse_strengths("Pinex Forte 500 mg/30 mg")) == 2
    assert parse_strength("Selo-zok 50") is None
    assert parse_strength("500", default_unit="mg") == Strength(Decimal(500), MG)


@pytest.mark.parametrize(
    ("text", "described"),
    [
        ("1+0+1", "1 morning + 1 evening tablett"),
        ("½+0+½", "0.5 morning + 0.5 evening tablett"),
        ("2+0+2 tabletter", "2 morning + 2 evening tablett"),
        ("1+1+1+1", "1 morning + 1 midday + 1 evening + 1 night tablett"),
        ("1 x 3", "1 tablett x 3 daily"),
        ("1 tbl 3 ganger daglig", "1 tablett x 3 daily"),
        ("1 daglig", "1 tablett x 1 daily"),
        ("2 tabletter morgen", "2 morning tablett"),
        ("1 morgen og 1 kveld", "1 morning + 1 evening tablett"),
        ("1 tablett til natten", "1 night tablett"),
        ("1 kapsel om morgenen", "1 morning kapsel"),
        ("ved behov maks 4 per døgn", "as needed ? tablett, max 4 tablett per day"),
        ("1-2 tabletter ved behov, maks 8 pr. døgn", "as needed 2 tablett, max 8 tablett per day"),
        ("1 tablett inntil 3 ganger daglig ved behov", "as needed 1 tablett, max 3 tablett per day"),
        ("1 plaster hver 3. dag", "1 plaster every 3 day"),
        ("1 tablett 1 gang i uken", "1 tablett every 1 week"),
        ("10 E kveld", "10 evening enhet"),
        ("15 ml x 2", "15 ml x 2 daily"),
    ],
)
def test_norwegian_dose_texts_are_read(text: str, described: str) -> None:
    reading = read_dose_text(text, default_unit="tablett")
    assert reading.summary is not None
    assert reading.summary.describe() == described
    assert reading.text == text


def test_only_exact_texts_become_a_structured_dosage() -> None:
    assert read_dose_text("1+0+1", default_unit="tablett").dosage is not None
    assert read_dose_text("1 x 3", default_unit="tablett").dosage is None  # which times of day is not said
    assert read_dose_text("1+0+1").dosage is None  # nor the unit


@pytest.mark.parametrize("text", ["etter skjema", "Doseres etter INR", "iht. INR"])
def test_a_dose_by_chart_is_recognised_but_not_guessed(text: str) -> None:
    reading = read_dose_text(text)
    assert reading.by_chart
    assert reading.summary is None


@pytest.mark.parametrize(
    "text", ["1 tablett", "som avtalt", "1+0+1, samt 1 ved behov", "1 tablett morgen ved behov"]
)
def test_what_cannot_be_read_safely_is_left_unread(text: str) -> None:
    assert read_dose_text(text, default_unit="tablett").summary is None


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("1+0+1", "1 tablett morgen og kveld", True),
        ("1 x 2", "1+0+1", True),
        ("2 x 1", "1+0+1", False),
        ("1+0+0", "0+0+1", False),
        ("1 plaster hver 3. dag", "skift plaster hver 72. time", True),
        ("1 v.b. maks 4 per døgn", "1 tablett ved behov inntil 4 ganger daglig", True),
        ("1 ved behov", "1 x 1", False),
        ("etter INR", "etter skjema", True),
        ("etter INR", "1 x 1", None),
        ("som avtalt", "1 x 1", None),
    ],
)
def test_regimens_compare_as_same_different_or_unknown(first: str, second: str, same: bool | None) -> None:
    assert same_regimen(read_dose_text(first), read_dose_text(second)) is same


def test_a_dose_in_mg_compares_with_tablets_through_the_strength() -> None:
    tablets, milligrams = read_dose_text("2+2+2+2", default_unit="tablett"), read_dose_text("1 g x 4")
    five_hundred = Strength(Decimal(500), MG)
    assert same_regimen(tablets, milligrams, strengths=(five_hundred, None)) is True
    assert same_regimen(tablets, milligrams) is None
    assert read_dose_text("1 g x 4").summary.kind is DoseKind.REGULAR  # type: ignore[union-attr]


# -- resolving names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "substance"),
    [
        ("Paracet 500mg tab", "Paracetamol"),
        ("Albyl E", "Acetylsalisylsyre"),
        ("metformin 500", "Metformin"),
        ("Selo-zok 50", "Metoprolol"),
        ("Metforim 500 mg", "Metformin"),
        ("Oxycodon 5 mg", "Oksykodon"),
        ("Apixaban 5 mg", "Apiksaban"),
        ("Somak 40 mg", "Pantoprazol"),
        ("Furiks 40 mg", "Furosemid"),
        ("Makrogol 3350 m/elektrolytter (Movicol)", "Kaliumklorid, Makrogol 3350, Natriumklorid"),
        ("Paracetamol", "Paracetamol"),
        ("paracetamol kodein", "Kodein, Paracetamol"),
        ("Levaxin 75 mcg", "Levotyroksin"),
    ],
)
def test_names_as_sources_write_them_resolve_to_their_substance(
    resolver: Resolver, name: str, substance: str
) -> None:
    resolution = resolver.resolve(MedicineRef(name=name))
    assert resolution.method is ResolutionMethod.NAME
    assert ", ".join(resolution.substance_names) == substance


def test_a_bare_number_after_the_name_is_read_in_the_catalogues_unit(resolver: Resolver) -> None:
    assert resolver.resolve(MedicineRef(name="Selo-zok 50")).strengths == {Strength(Decimal(50), MG)}
    assert resolver.resolve(MedicineRef(name="Levaxin 75")).strengths == {Strength(Decimal("0.075"), MG)}


# A substance name, a brand and a misspelling: the three ways a name resolves.
@pytest.mark.parametrize("name", ["Metformin", "Metformin 500 mg", "Glucophage 500 mg", "Metforim 500 mg"])
def test_the_strength_field_is_read_whichever_way_the_name_resolves(resolver: Resolver, name: str) -> None:
    """The strength field is the source's structured statement; a substance name once ignored it (and a
    strength difference from the list went unseen)."""
    resolution = resolver.resolve(MedicineRef(name=name, strength="1 g"))
    assert resolution.substance_names == ("Metformin",)
    assert resolution.strengths == {Strength(Decimal(1000), MG)}


# The name says 500 mg, the field 850 mg: by substance name, brand, misspelling, and with an ATC code.
@pytest.mark.parametrize(
    ("name", "atc"),
    [("Metformin 500 mg", None), ("Glucophage 500 mg", None), ("Metforim 500 mg", None),
     ("Metformin 500 mg", "A10BA02")],
)  # fmt: skip
def test_a_strength_field_the_name_contradicts_is_read_with_the_conflict(
    resolver: Resolver, name: str, atc: str | None
) -> None:
    """The field still gives the strength, but the resolution carries both as written: a source that
    disagrees with itself is certain of neither."""
    resolution = resolver.resolve(MedicineRef(name=name, atc=atc, strength="850 mg"))
    assert resolution.substance_names == ("Metformin",)
    assert resolution.strengths == {Strength(Decimal(850), MG)}
    assert resolution.strength_conflict == StrengthConflict(in_field="850 mg", in_name="500 mg")


@pytest.mark.parametrize(
    ("name", "strength"),
    [("Metformin 500mg", "500 mg"), ("Glucophage 0,5 g", "500 mg"), ("Metforim 500 mg", "0.5g"),
     ("Metformin 500 mg", "500"), ("Metformin", "850 mg"), ("Metformin 500 mg", None),
     ("Durogesic 25 mikrog/time", "25 mikrog"), ("Glucophage 1 g", "1")],
)  # fmt: skip
def test_one_strength_written_two_ways_is_no_conflict(
    resolver: Resolver, name: str, strength: str | None
) -> None:
    assert resolver.resolve(MedicineRef(name=name, strength=strength)).strength_conflict is None


def test_a_unitless_strength_field_another_number_than_the_name_is_a_conflict(resolver: Resolver) -> None:
    resolution = resolver.resolve(MedicineRef(name="Metformin 500 mg", strength="850"))
    assert resolution.strength_conflict == StrengthConflict(in_field="850", in_name="500 mg")


@pytest.mark.parametrize("name", ["Tran", "Smertestillende", "Blodtrykksmedisin 50 mg", "Codein", "Citalo"])
def test_names_no_medicine_fits_with_certainty_stay_unresolved(resolver: Resolver, name: str) -> None:
    assert not resolver.resolve(MedicineRef(name=name)).identified


def test_look_alike_substances_resolve_apart(resolver: Resolver) -> None:
    citalopram = resolver.resolve(MedicineRef(name="Citalopram 20 mg"))
    escitalopram = resolver.resolve(MedicineRef(name="Escitalopram 20 mg"))
    assert citalopram.identified
    assert escitalopram.identified
    assert citalopram.substances != escitalopram.substances


def test_ids_come_before_names_and_must_agree_with_them(resolver: Resolver) -> None:
    varenr = varenr_of(resolver, "Selo-Zok depottab 50 mg")
    by_varenr = resolver.resolve(MedicineRef(varenr=varenr, name="Selo-Zok depottab 50 mg"))
    assert by_varenr.method is ResolutionMethod.VARENR
    assert by_varenr.product_name == "Selo-Zok depottab 50 mg"
    by_atc = resolver.resolve(MedicineRef(atc="C07AB02"))
    assert by_atc.method is ResolutionMethod.ATC
    assert by_atc.substance_names == ("Metoprolol",)
    conflict = resolver.resolve(MedicineRef(varenr=varenr, name="Marevan 2,5 mg"))
    assert conflict.method is ResolutionMethod.CONFLICT
    assert not conflict.identified
