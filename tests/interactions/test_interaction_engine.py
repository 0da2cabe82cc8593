"""The interaction engine on the real FEST extract (both namespace forms) and on built catalogues."""

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interactions.engine import CheckItem, IndexHolder, InteractionIndex, NoActiveIndexError
from interactions.factories import (
    make_catalogue,
    make_interaction,
    make_not_assessed,
    make_product,
    make_strength,
    make_substance,
    member,
)
from interactions.model import Catalogue

SIMEPREVIR_POSACONAZOLE = "ID_FD61A401-0759-44AE-AED9-A3A900F87802"
TERBINAFINE_AMITRIPTYLINE = "ID_43E3CEDF-77A1-4D0D-844A-9F8A01267559"
ST_JOHNS_WORT_TCA = "ID_35372C90-94D0-4F04-A7E3-9F940100EDC2"
FENTANYL_AMITRIPTYLINE = "ID_04946C36-7AC1-4CEF-B967-A63D009F435E"
PERIKUM = "ID_D8977B6C-F30E-40E2-AA71-E7F3A4B9497E"
PRIKKPERIKUM = "ID_1C167165-DCF4-47D9-878F-234E5EA2A534"
SAROTEX_10 = "ID_52B8BE66-BEE1-4CAA-8962-D7C52C45A5DD"
AMITRIPTYLIN_ORIFARM_10_VARENR = "564290"
KODIMAGNYL = "ID_000A27B8-3930-4264-80F9-CDB14C895662"
AMITRIPTYLIN = "ID_0A1B24EF-A7F8-488B-97B8-8023193E976D"
AMITRIPTYLINHYDROKLORID = "ID_070A7B5D-46F1-44DC-AAB8-B51BE5A49270"


def interaction_ids(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [finding.interaction_id for finding in result.findings]


# -- the five records of the extract, as DMP's implementation guide says -------------------


def test_plain_pair_is_relevans_1_in_either_order(extract_index: InteractionIndex) -> None:
    for items in (
        [CheckItem.atc("J05AP05"), CheckItem.atc("J02AC04")],
        [CheckItem.atc("J02AC04"), CheckItem.atc("J05AP05")],
    ):
        result = extract_index.check(items)
        assert interaction_ids(result) == [SIMEPREVIR_POSACONAZOLE]
        finding = result.findings[0]
        assert finding.relevans == 1
        assert (finding.first.substance, finding.second.substance) == ("Simeprevir", "Posakonazol")
        assert finding.source_basis == "4"
        assert finding.display_rules == (1, 4, 2, 3)
        assert [ref.link for ref in finding.references][1] == "http://tidsskriftet.no/article/1782258"
        assert (
            finding.release_id == result.release_id == extract_index.release_id == "test-release-2026-09-08"
        )
    assert result.hentet_dato == "2026-09-08T03:09:06"


def test_terbinafine_amitriptyline_carries_situation_criterion_and_paragraphs(
    extract_index: InteractionIndex,
) -> None:
    result = extract_index.check([CheckItem.varenr(AMITRIPTYLIN_ORIFARM_10_VARENR), CheckItem.atc("D01BA02")])
    assert interaction_ids(result) == [TERBINAFINE_AMITRIPTYLINE]
    finding = result.findings[0]
    assert finding.relevans == 2
    assert finding.situation_criterion == "Gjelder ved amitriptylindoser større eller lik 75 mg daglig."
    assert finding.mechanism is not None
    assert "CYP2D6" in finding.mechanism
    paragraphs = finding.record.handling_paragraphs
    assert len(paragraphs) == 2
    assert paragraphs[0].startswith("Dosetilpasning:")
    assert paragraphs[1].startswith("Legemiddelalternativer:")
    assert finding.first.item == CheckItem.atc("D01BA02")
    assert finding.first.group_name == "Terbinafin"
    assert finding.second.substance == "Amitriptylin"
    assert finding.second.group_name == "Amitriptylin"
    assert len(finding.references) == 3


def test_combination_code_of_the_group_matches_too(extract_index: InteractionIndex) -> None:
    result = extract_index.check([CheckItem.atc("N06CA01"), CheckItem.atc("D01BA02")])
    assert interaction_ids(result) == [TERBINAFINE_AMITRIPTYLINE]
    assert result.findings[0].second.substance == "Amitriptylin og psykoleptika"


def test_level4_group_covers_codes_it_does_not_list(extract_index: InteractionIndex) -> None:
    # The record lists N06AA plus N06AA01..N06AA23 but not N06AA22: the class code covers it.
    result = extract_index.check([CheckItem.atc("N06AX25"), CheckItem.atc("N06AA22")])
    assert interaction_ids(result) == [ST_JOHNS_WORT_TCA]
    assert result.findings[0].second.substance == "Ikke-selektive monoaminreopptakshemmere"


def test_level4_group_covers_amitriptyline_products(extract_index: InteractionIndex) -> None:
    result = extract_index.check([CheckItem.product(SAROTEX_10), CheckItem.atc("N06AX25")])
    assert interaction_ids(result) == [ST_JOHNS_WORT_TCA]
    finding = result.findings[0]
    assert finding.relevans == 1
    assert finding.first.substance == "Hyperici herba"
    assert finding.first.group_name == "Johannesurt"
    assert finding.second.item == CheckItem.product(SAROTEX_10)
    assert finding.second.substance == "Amitriptylin"  # the most specific member, not the class


@pytest.mark.parametrize(("substance_id", "name"), [(PERIKUM, "Perikum"), (PRIKKPERIKUM, "Prikkperikum")])
def test_herbal_without_atc_matches_by_virkestoff_id(
    extract_index: InteractionIndex, substance_id: str, name: str
) -> None:
    result = extract_index.check(
        [CheckItem.substance(substance_id), CheckItem.varenr(AMITRIPTYLIN_ORIFARM_10_VARENR)]
    )
    assert interaction_ids(result) == [ST_JOHNS_WORT_TCA]
    assert result.findings[0].first.substance == name
    assert result.unresolved == ()


def test_relevans_3_is_silent_unless_asked(extract_index: InteractionIndex) -> None:
    items = [CheckItem.atc("N02AB03"), CheckItem.product(SAROTEX_10)]
    assert extract_index.check(items).findings == ()
    asked = extract_index.check(items, include_relevans_3=True)
    assert interaction_ids(asked) == [FENTANYL_AMITRIPTYLINE]
    assert asked.findings[0].relevans == 3
    assert asked.findings[0].first.group_name == "Fentanyl"


def test_not_assessed_is_reported_and_not_as_no_interaction(extract_index: InteractionIndex) -> None:
    result = extract_index.check([CheckItem.atc("N07AB02"), CheckItem.product(SAROTEX_10)])
    assert result.findings == ()
    assert [(entry.item, entry.atc) for entry in result.not_assessed] == [
        (CheckItem.atc("N07AB02"), "N07AB02")
    ]
    assert result.not_assessed[0].entry_id == "ID_12F59012-13DC-4264-96DF-290B598C7C70"
    assert result.unresolved == ()


def test_unrelated_items_have_no_findings(extract_index: InteractionIndex) -> None:
    result = extract_index.check(
        [CheckItem.atc("J05AP05"), CheckItem.product(SAROTEX_10), CheckItem.atc("D01BA02")]
    )
    assert interaction_ids(result) == [TERBINAFINE_AMITRIPTYLINE]


# -- resolution -------------------------------------------------------------------------


def test_varenr_resolves_through_product_to_substances(extract_index: InteractionIndex) -> None:
    resolved = extract_index.resolve(CheckItem.varenr(AMITRIPTYLIN_ORIFARM_10_VARENR))
    assert resolved is not None
    assert resolved.label == "Amitriptylin Orifarm tab 10 mg"
    assert resolved.atc_codes == {"N06AA09"}
    assert resolved.substance_ids == {AMITRIPTYLIN, AMITRIPTYLINHYDROKLORID}


def test_combination_product_resolves_to_each_ingredient(extract_index: InteractionIndex) -> None:
    resolved = extract_index.resolve(CheckItem.product(KODIMAGNYL))
    assert resolved is not None
    assert resolved.atc_codes == {"N02AJ07", "R05DA04", "N02BA01", "A02AA04"}


def test_unknown_items_are_unresolved_not_silent(extract_index: InteractionIndex) -> None:
    unknown = [
        CheckItem.product("ID_NOPE"),
        CheckItem.varenr("000000"),
        CheckItem.substance("ID_NOPE"),
        CheckItem.atc("not a code"),
    ]
    result = extract_index.check([*unknown, CheckItem.product(SAROTEX_10)])
    assert result.unresolved == tuple(unknown)


def test_same_level5_code_twice_is_duplication(extract_index: InteractionIndex) -> None:
    items = [
        CheckItem.product(SAROTEX_10),
        CheckItem.varenr(AMITRIPTYLIN_ORIFARM_10_VARENR),
        CheckItem.atc("J05AP05"),
    ]
    duplications = extract_index.check(items).duplications
    assert [(d.atc, d.items) for d in duplications] == [("N06AA09", tuple(items[:2]))]
    assert extract_index.check([items[0], items[0]]).duplications == ()


# -- built catalogues: display rules, status, prefix coverage --------------------------------


def _pair_catalogue(
    *, display_rules: tuple[int, ...] = (1, 2, 3, 4), status: str = "A", first_atc: str = "C03CA01"
) -> Catalogue:
    return make_catalogue(
        make_interaction(
            first=[member("A", first_atc)],
            second=[member("B", "C09AA05")],
            display_rules=display_rules,
            status=status,
        ),
        make_not_assessed(atc="C09AA05", status="U"),
    )


def test_visningsregel_filters_by_setting_when_the_record_lists_rules() -> None:
    index = InteractionIndex.compile(_pair_catalogue(display_rules=(3,)), "r")
    items = [CheckItem.atc("C03CA01"), CheckItem.atc("C09AA05")]
    assert len(index.check(items, visningsregel=3).findings) == 1
    assert index.check(items, visningsregel=1).findings == ()
    assert len(index.check(items).findings) == 1


def test_record_without_rules_shows_in_every_setting() -> None:
    index = InteractionIndex.compile(_pair_catalogue(display_rules=()), "r")
    items = [CheckItem.atc("C03CA01"), CheckItem.atc("C09AA05")]
    assert [len(index.check(items, visningsregel=s).findings) for s in (1, 2, 3, 4)] == [1, 1, 1, 1]


def test_withdrawn_records_are_out_of_the_active_view() -> None:
    index = InteractionIndex.compile(_pair_catalogue(status="U"), "r")
    items = [CheckItem.atc("C03CA01"), CheckItem.atc("C09AA05")]
    result = index.check(items)
    assert result.findings == ()
    assert result.not_assessed == ()
    everything = index.check(items, active_only=False)
    assert len(everything.findings) == 1
    assert len(everything.not_assessed) == 1


def test_salt_and_base_match_each_other() -> None:
    base = make_substance(name="Base")
    salt = make_substance(name="Basehydroklorid", related_ids=[])
    base_with_salt = make_substance(name="Base", id=base.id, related_ids=[salt.id])
    strength = make_strength(substance=base_with_salt, value="10")
    product = make_product(brand_name="P", name_form_strength="P tab 10 mg", atc=None, strengths=[strength])
    record = make_interaction(first=[member("Salt", None, [salt.id])], second=[member("Other", "B01AA03")])
    index = InteractionIndex.compile(make_catalogue(base_with_salt, salt, strength, product, record), "r")
    assert len(index.check([CheckItem.product(product.id), CheckItem.atc("B01AA03")]).findings) == 1
    assert len(index.check([CheckItem.substance(salt.id), CheckItem.atc("B01AA03")]).findings) == 1


@given(tail=st.integers(1, 99), other_tail=st.integers(1, 99), level=st.sampled_from([1, 3, 4, 5]))
@settings(max_examples=60, deadline=None)
def test_group_codes_cover_every_code_below_and_level5_only_itself(
    tail: int, other_tail: int, level: int
) -> None:
    code, other = f"N06AB{tail:02d}", f"N06AB{other_tail:02d}"
    group_code = code[:level]
    index = InteractionIndex.compile(_pair_catalogue(first_atc=group_code), "r")
    assert len(index.check([CheckItem.atc(code), CheckItem.atc("C09AA05")]).findings) == 1
    exact = InteractionIndex.compile(_pair_catalogue(first_atc=code), "r")
    expected = 1 if other == code else 0
    assert len(exact.check([CheckItem.atc(other), CheckItem.atc("C09AA05")]).findings) == expected
    assert (
        exact.check([CheckItem.atc(code[:5]), CheckItem.atc("C09AA05")]).findings == ()
    )  # a class item is literal


EXTRACT_POOL = [
    CheckItem.atc(code)
    for code in (
        "J05AP05",
        "J02AC04",
        "D01BA02",
        "N06AX25",
        "N02AB03",
        "N01AH01",
        "N07AB02",
        "N06AA22",
        "N06CA01",
    )
] + [
    CheckItem.product(SAROTEX_10),
    CheckItem.varenr(AMITRIPTYLIN_ORIFARM_10_VARENR),
    CheckItem.substance(PERIKUM),
    CheckItem.product(KODIMAGNYL),
]


def _summary(result):  # type: ignore[no-untyped-def]
    findings = sorted(
        (f.interaction_id, f.first.item.value, f.second.item.value, f.first.substance, f.second.substance)
        for f in result.findings
    )
    duplications = sorted((d.atc, frozenset(d.items)) for d in result.duplications)
    return findings, duplications, sorted(n.item.value for n in result.not_assessed)


@given(
    items=st.lists(st.sampled_from(EXTRACT_POOL), min_size=2, max_size=len(EXTRACT_POOL), unique=True),
    data=st.data(),
)
@settings(max_examples=80, deadline=None)
def test_check_does_not_depend_on_item_order(
    extract_index: InteractionIndex, items: list[CheckItem], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(items))
    both = (
        extract_index.check(items, include_relevans_3=True),
        extract_index.check(shuffled, include_relevans_3=True),
    )
    assert _summary(both[0]) == _summary(both[1])


@given(items=st.lists(st.sampled_from(EXTRACT_POOL), min_size=2, max_size=6, unique=True))
@settings(max_examples=60, deadline=None)
def test_list_check_equals_the_union_of_pair_checks(
    extract_index: InteractionIndex, items: list[CheckItem]
) -> None:
    whole = {
        (f.interaction_id, f.items) for f in extract_index.check(items, include_relevans_3=True).findings
    }
    pairs = {
        (f.interaction_id, f.items)
        for i, a in enumerate(items)
        for b in items[i + 1 :]
        for f in extract_index.check([a, b], include_relevans_3=True).findings
    }
    assert whole == pairs


# -- the holder ----------------------------------------------------------------------------


def test_holder_swaps_atomically_and_returns_the_previous_index() -> None:
    holder = IndexHolder()
    with pytest.raises(NoActiveIndexError):
        _ = holder.current
    first = InteractionIndex.compile(_pair_catalogue(), "r1")
    second = InteractionIndex.compile(_pair_catalogue(display_rules=(4,)), "r2")
    assert holder.swap(first) is None
    assert holder.swap(second) is first
    assert holder.current is second
    assert holder.current.release_id == "r2"


def test_checks_in_flight_keep_their_release_while_swapping() -> None:
    indexes = [InteractionIndex.compile(_pair_catalogue(), f"r{n}") for n in range(2)]
    holder = IndexHolder(indexes[0])
    items = [CheckItem.atc("C03CA01"), CheckItem.atc("C09AA05")]
    seen: list[tuple[str, str]] = []
    stop = threading.Event()

    def checker() -> None:
        while not stop.is_set():
            result = holder.current.check(items)
            seen.append((result.release_id, result.findings[0].release_id))

    threads = [threading.Thread(target=checker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for n in range(200):
        holder.swap(indexes[n % 2])
    stop.set()
    for thread in threads:
        thread.join()
    assert seen
    assert all(release == finding_release for release, finding_release in seen)
    assert {release for release, _ in seen} <= {"r0", "r1"}
