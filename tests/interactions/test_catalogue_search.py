"""Catalogue name search: as-you-type queries, abbreviations, strengths, ranking and paging."""

import pytest

from interactions.factories import make_catalogue, make_product, make_strength, make_substance
from interactions.model import Catalogue, CatalogueRecord, Product
from interactions.search import CatalogueSearch, ParsedQuery, normalise


def _products() -> list[CatalogueRecord]:
    paracetamol = make_substance(name="Paracetamol")
    metformin = make_substance(name="Metforminhydroklorid")
    metoprolol = make_substance(name="Metoprololsuksinat")
    asa = make_substance(name="Acetylsalisylsyre")
    ibuprofen = make_substance(name="Ibuprofen")
    records: list[CatalogueRecord] = [paracetamol, metformin, metoprolol, asa, ibuprofen]

    def product(brand: str, nfs: str, atc: str, substance: object, value: str, **kwargs: object) -> None:
        strength = make_strength(substance=substance, value=value)  # type: ignore[arg-type]
        records.extend(
            [
                strength,
                make_product(
                    brand_name=brand, name_form_strength=nfs, atc=atc, strengths=[strength], **kwargs
                ),
            ]
        )  # type: ignore[arg-type]

    product("Paracet", "Paracet tab 500 mg", "N02BE01", paracetamol, "500")
    product("Paracetamol Orifarm", "Paracetamol Orifarm tab 500 mg", "N02BE01", paracetamol, "500")
    product("Paracet", "Paracet tab 1 g", "N02BE01", paracetamol, "1")
    product("Paracet", "Paracet mikst 24 mg/ml", "N02BE01", paracetamol, "24", form="Mikstur")
    product("Pinex", "Pinex tab 500 mg", "N02BE01", paracetamol, "500", status="U")
    product("Albyl-E", "Albyl-E enterotab 75 mg", "B01AC06", asa, "75")
    product("Selo-Zok", "Selo-Zok depottab 50 mg", "C07AB02", metoprolol, "50")
    product("Selo-Zok", "Selo-Zok depottab 100 mg", "C07AB02", metoprolol, "100")
    product("Metformin Sandoz", "Metformin Sandoz tab 500 mg", "A10BA02", metformin, "500")
    product("Metformin Sandoz", "Metformin Sandoz tab 850 mg", "A10BA02", metformin, "850")
    product("Glucophage", "Glucophage tab 500 mg", "A10BA02", metformin, "500")
    product("Ibux", "Ibux tab 400 mg", "M01AE01", ibuprofen, "400")
    return records


@pytest.fixture(scope="module")
def search() -> CatalogueSearch:
    return CatalogueSearch(make_catalogue(*_products()))


def names(pairs: list[tuple[Product, float]]) -> list[str]:
    return [product.name_form_strength for product, _score in pairs]


def test_normalise_spells_out_abbreviations_and_splits_strengths() -> None:
    assert normalise("Paracet 500mg tab") == "paracet 500 mg tablett"
    assert normalise("Selo-Zok depottab 50 mg") == "selo zok depottablett 50 mg"
    assert normalise("Kodimagnyl tbl 9,6 mg") == "kodimagnyl tablett 9.6 mg"
    assert normalise("Amitriptylin mikst oppl") == "amitriptylin mikstur oppløsning"
    assert normalise("Morfin inj 10mg/ml") == "morfin injeksjon 10 mg ml"


def test_query_is_split_into_name_form_and_strength() -> None:
    assert ParsedQuery.parse("Paracet 500mg tab") == ParsedQuery("paracet", frozenset({"tablett"}), ("500",))


def test_paracet_500_finds_the_paracetamol_500_mg_products_first(search: CatalogueSearch) -> None:
    found = names(search.candidates("paracet 500", limit=5))
    assert set(found[:2]) == {"Paracet tab 500 mg", "Paracetamol Orifarm tab 500 mg"}
    assert "Paracet tab 1 g" in found[2:]
    assert "Pinex tab 500 mg" not in found  # withdrawn (Status U)


def test_free_text_names_from_sources_resolve(search: CatalogueSearch) -> None:
    assert names(search.candidates("Paracet 500mg tab", limit=1)) == ["Paracet tab 500 mg"]
    assert names(search.candidates("Albyl E", limit=1)) == ["Albyl-E enterotab 75 mg"]
    assert names(search.candidates("Selo-zok 50", limit=1)) == ["Selo-Zok depottab 50 mg"]
    assert names(search.candidates("selozok 100", limit=1)) == ["Selo-Zok depottab 100 mg"]
    assert set(names(search.candidates("metformin 500", limit=2))) == {
        "Metformin Sandoz tab 500 mg",
        "Glucophage tab 500 mg",
    }


def test_form_words_rank_matching_forms_first(search: CatalogueSearch) -> None:
    assert names(search.candidates("paracet mikst", limit=1)) == ["Paracet mikst 24 mg/ml"]


def test_scores_are_ordered_and_bounded(search: CatalogueSearch) -> None:
    scores = [score for _product, score in search.candidates("paracet 500", limit=None)]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= score <= 100 for score in scores)


def test_a_typo_still_finds_the_product(search: CatalogueSearch) -> None:
    assert names(search.candidates("glucofage", limit=1)) == ["Glucophage tab 500 mg"]
    assert names(search.candidates("pracet 500", limit=1)) == [
        "Paracet tab 500 mg"
    ]  # typo in the first letters


def test_pages_partition_the_ranked_results(search: CatalogueSearch) -> None:
    everything = search.search("paracet", limit=100)
    pages = [search.search("paracet", offset=offset, limit=2) for offset in range(0, everything.total, 2)]
    assert everything.total >= 3
    assert [hit for page in pages for hit in page.hits] == list(everything.hits)
    assert all(page.total == everything.total for page in pages)


def test_withdrawn_products_can_be_asked_for(search: CatalogueSearch) -> None:
    found = names(search.candidates("pinex", limit=1, active_only=False))
    assert found == ["Pinex tab 500 mg"]
    assert "Pinex tab 500 mg" not in names(search.candidates("pinex", limit=None))


def test_queries_without_a_name_find_nothing(search: CatalogueSearch) -> None:
    assert search.candidates("500 mg") == []
    assert search.search("").total == 0


def test_search_on_the_real_extract(extract_catalogue: Catalogue) -> None:
    search = CatalogueSearch(extract_catalogue)
    assert names(search.candidates("sarotex 25", limit=1)) == ["Sarotex tab 25 mg"]
    ten_mg = names(search.candidates("amitriptylin 10", limit=4))
    assert all(" 10 mg" in name for name in ten_mg[:3])
    assert names(search.candidates("kodimagnyl", limit=1)) == [
        "Kodimagnyl Ikke-stoppende dak tab 9,6 mg/500 mg/150 mg"
    ]


def test_normalise_reads_non_ascii_names_in_nfkc_form_and_ascii_names_as_they_are() -> None:
    # Only non-ASCII text goes through NFKC (ASCII is its own NFKC form): both must give the same words.
    assert normalise("Ｐａｒａｃｅｔ ５００ｍｇ") == normalise("Paracet 500mg") == "paracet 500 mg"
    assert normalise("Ibux 1,5 ﬁlm") == "ibux 1.5 film"
