"""The streaming FEST parser on the real extract, in its all-m30 and its namespaced form."""

from pathlib import Path

import pytest

from interactions.model import InteractionRecord, NotAssessed, Product
from loaders.fest.parser import FestReader, file_sha256, parse_catalogue, parse_release

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fest"
EXTRACT_SHA256 = "6c28e6a6e72ce42c2f85519bae07f285e8741a69237570c80bbf71513aaff003"
M30 = "http://www.kith.no/xmlstds/eresept/m30/2014-12-01"
FS = "http://www.kith.no/xmlstds/eresept/forskrivning/2014-12-01"


def test_counts_per_kind_match_the_extract(fest_fixture: Path) -> None:
    release = parse_release(fest_fixture)
    assert release.counts == {
        "product": 12,
        "package": 12,
        "swap_group": 2,
        "interaction": 4,
        "not_assessed": 1,
        "substance": 5,
        "substance_with_strength": 9,
    }
    assert release.skipped == {"OppfHandelsvare": 1}
    assert release.withdrawn == {}
    assert release.hentet_dato == "2026-09-08T03:09:06"
    assert release.source_name == fest_fixture.name
    assert release.size == fest_fixture.stat().st_size


def test_both_namespace_forms_give_identical_catalogues() -> None:
    plain = parse_catalogue(FIXTURES / "fest-utdrag-2026-09-08.xml")
    namespaced = parse_catalogue(FIXTURES / "fest-utdrag-2026-09-08-namespaced.xml")
    assert namespaced == plain
    assert len(plain.products) == 12


def test_namespaced_fixture_really_uses_the_forskrivning_namespace() -> None:
    text = (FIXTURES / "fest-utdrag-2026-09-08-namespaced.xml").read_text(encoding="utf-8")
    assert text.count(f'<LegemiddelMerkevare xmlns="{FS}">') == 12
    assert text.count(f'<VirkestoffMedStyrke xmlns="{FS}">') == 9
    assert f'<FEST xmlns="{M30}">' in text
    assert "<Interaksjon>" in text


def test_sha256_is_computed_while_streaming() -> None:
    path = FIXTURES / "fest-utdrag-2026-09-08.xml"
    release = parse_release(path)
    assert release.sha256 == EXTRACT_SHA256 == file_sha256(path)


def test_sha256_is_unavailable_before_the_end() -> None:
    reader = FestReader(FIXTURES / "fest-utdrag-2026-09-08.xml")
    next(iter(reader.records()))
    with pytest.raises(RuntimeError):
        _ = reader.sha256


def test_product_fields(fest_fixture: Path) -> None:
    product = parse_catalogue(fest_fixture).products["ID_000A27B8-3930-4264-80F9-CDB14C895662"]
    assert product == Product(
        id="ID_000A27B8-3930-4264-80F9-CDB14C895662",
        brand_name="Kodimagnyl Ikke-stoppende dak",
        name_form_strength="Kodimagnyl Ikke-stoppende dak tab 9,6 mg/500 mg/150 mg",
        atc="N02AJ07",
        form="Tablett",
        form_code="53",
        form_long="Tablett, filmdrasjert",
        route="Oral bruk",
        strength_ids=(
            "ID_EBA32704-A830-4F76-8099-216B184396D3",
            "ID_CC09F8A9-36D8-466E-996C-31172AA89BCB",
            "ID_A1C0BEE8-A849-4F0E-A799-F09DEFB03B7B",
        ),
        status="A",
    )


def test_package_to_product_to_substance_chain(fest_fixture: Path) -> None:
    catalogue = parse_catalogue(fest_fixture)
    package = next(p for p in catalogue.packages.values() if p.varenr == "564290")
    assert (package.ean, package.atc, package.swap_group_id) == (
        "7046265642909",
        "N06AA09",
        "ID_E68A44F4-7B33-4BD9-A067-5896B532E6FB",
    )
    product = catalogue.products[package.product_id or ""]
    strength = catalogue.strengths[product.strength_ids[0]]
    assert (strength.strength_value, strength.strength_unit) == ("10", "mg")
    substance = catalogue.substances[strength.substance_id or ""]
    assert (substance.name, substance.name_en) == ("Amitriptylin", "Amitriptyline")
    assert substance.related_ids == ("ID_070A7B5D-46F1-44DC-AAB8-B51BE5A49270",)
    assert catalogue.swap_groups[package.swap_group_id or ""].name == "AMITRIPTYLIN TABLETT 10 MG"


def test_strength_with_denominator_and_combination_atc(fest_fixture: Path) -> None:
    strengths = parse_catalogue(fest_fixture).strengths
    per_volume = strengths["ID_388A34AB-3543-4880-BDE2-A513FDB5906E"]
    assert per_volume.strength_text == "10 mg/5 ml"
    assert strengths["ID_CC09F8A9-36D8-466E-996C-31172AA89BCB"].combination_atc == "N02BA01"


def test_interaction_record_fields(fest_fixture: Path) -> None:
    catalogue = parse_catalogue(fest_fixture)
    record = catalogue.interactions["ID_35372C90-94D0-4F04-A7E3-9F940100EDC2"]
    assert isinstance(record, InteractionRecord)
    assert record.entry_id == "ID_87EC2EB1-7EFD-45F5-8AED-D26E859425E5"
    assert (record.relevans, record.source_basis, record.display_rules) == (1, "2", (1, 4, 2, 3))
    johannesurt, tca = record.groups
    assert johannesurt.name == "Johannesurt"
    assert tca.name is None
    assert [(m.name, m.atc, m.substance_ids) for m in johannesurt.members] == [
        ("Perikum", None, ("ID_D8977B6C-F30E-40E2-AA71-E7F3A4B9497E",)),
        ("Prikkperikum", None, ("ID_1C167165-DCF4-47D9-878F-234E5EA2A534",)),
        ("Hyperici herba", "N06AX25", ()),
    ]
    assert tca.members[0].atc == "N06AA"
    assert len(tca.members) == 22
    assert len(record.references) == 4
    assert record.references[0].link == "http://tidsskriftet.no/article/1782258"
    assert record.handling is None
    assert catalogue.not_assessed == [
        NotAssessed(entry_id="ID_12F59012-13DC-4264-96DF-290B598C7C70", atc="N07AB02", name="Betanekol")
    ]


def test_dangling_references_are_tolerated(fest_fixture: Path) -> None:
    catalogue = parse_catalogue(fest_fixture)
    perikum = "ID_D8977B6C-F30E-40E2-AA71-E7F3A4B9497E"
    assert perikum not in catalogue.substances  # referenced by an interaction, defined outside the extract
    salt_refs = {ref for s in catalogue.substances.values() for ref in s.related_ids}
    assert salt_refs - set(catalogue.substances)  # e.g. Kodein's salts


def _minimal_fest(body: str, *, namespace: str = M30) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<FEST xmlns="{namespace}">'
        f"<HentetDato>2026-01-01T00:00:00</HentetDato>{body}</FEST>\n"
    )


def test_status_u_records_are_kept_and_marked(tmp_path: Path) -> None:
    product = (
        "<KatLegemiddelMerkevare><OppfLegemiddelMerkevare><Id>E1</Id><Tidspunkt>2026-01-01T00:00:00</Tidspunkt>"
        '<Status V="U" DN="Utgått oppføring"/>'
        f'<LegemiddelMerkevare xmlns="{FS}"><Atc V="N06AA09"/>'
        "<NavnFormStyrke>X tab 1 mg</NavnFormStyrke><Id>P1</Id>"
        "<Varenavn>X</Varenavn></LegemiddelMerkevare></OppfLegemiddelMerkevare></KatLegemiddelMerkevare>"
    )
    path = tmp_path / "u.xml"
    path.write_text(_minimal_fest(product), encoding="utf-8")
    release = parse_release(path)
    assert release.withdrawn == {"product": 1}
    assert release.catalogue.products["P1"].active is False


def test_unused_catalogues_are_skipped_and_counted(tmp_path: Path) -> None:
    code_list = (
        "<OppfKodeverk><Id>K</Id><Tidspunkt>2026-01-01T00:00:00</Tidspunkt><Status V='A'/>"
        "<Kodeverk><Info/></Kodeverk></OppfKodeverk>"
    )
    refund = (
        "<KatRefusjon><OppfRefusjon><Id>R</Id><Tidspunkt>2026-01-01T00:00:00</Tidspunkt><Status V='A'/>"
        "<Refusjonshjemmel/></OppfRefusjon></KatRefusjon>"
    )
    filler = "<KatKodeverk>" + code_list * 3 + "</KatKodeverk>" + refund
    path = tmp_path / "filler.xml"
    path.write_text(_minimal_fest(filler), encoding="utf-8")
    release = parse_release(path)
    assert release.skipped == {"OppfKodeverk": 3, "OppfRefusjon": 1}
    assert release.counts == {}


def test_records_stream_in_file_order(fest_fixture: Path) -> None:
    kinds = [record.kind for record in FestReader(fest_fixture).records()]
    assert kinds[:12] == ["product"] * 12
    assert kinds.index("interaction") < kinds.index("substance")
