"""The synthetic FEST generator: real shape and namespaces, parses back, deterministic."""

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from interactions.engine import CheckItem, InteractionIndex
from loaders.fest.parser import FORSKRIVNING_NS, M30_NS, parse_release
from loaders.fest.synthetic import Sizes, main, write_synthetic_fest

SMALL = 0.02


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Sizes]:
    path = tmp_path_factory.mktemp("synthetic") / "small.xml"
    return path, write_synthetic_fest(path, seed=7, scale=SMALL)


def _expected_not_assessed(sizes: Sizes) -> int:
    step = max(1, sizes.interactions // sizes.not_assessed)
    return len(range(0, sizes.interactions, step))


def test_small_file_parses_back_with_the_expected_counts(small_file: tuple[Path, Sizes]) -> None:
    path, sizes = small_file
    release = parse_release(path)
    assert release.counts["product"] == sizes.products
    assert release.counts["package"] == sizes.packages
    assert release.counts["interaction"] == sizes.interactions
    assert release.counts["not_assessed"] == _expected_not_assessed(sizes)
    assert release.counts["swap_group"] == sizes.swap_groups
    assert release.skipped == {
        "OppfKodeverk": sizes.filler_code_lists,
        "OppfHandelsvare": sizes.filler_code_lists,
    }
    assert release.hentet_dato == "2030-01-01T00:00:00"


def test_namespaces_are_those_of_a_real_file(small_file: tuple[Path, Sizes]) -> None:
    namespaces: Counter[tuple[str, str]] = Counter()
    for _event, element in etree.iterparse(str(small_file[0]), events=("end",)):
        local = etree.QName(element).localname
        if local in {
            "FEST",
            "LegemiddelMerkevare",
            "Legemiddelpakning",
            "Virkestoff",
            "VirkestoffMedStyrke",
            "Interaksjon",
            "Byttegruppe",
            "MedForbMatr",
        }:
            namespaces[(local, etree.QName(element).namespace or "")] += 1
    found = {local: namespace for local, namespace in namespaces}
    assert found["FEST"] == found["Interaksjon"] == found["Byttegruppe"] == M30_NS
    for local in (
        "LegemiddelMerkevare",
        "Legemiddelpakning",
        "Virkestoff",
        "VirkestoffMedStyrke",
        "MedForbMatr",
    ):
        assert found[local] == FORSKRIVNING_NS, local
    assert len(namespaces) == 8  # each kind in exactly one namespace


def test_interactions_use_group_codes_and_substances_without_atc(small_file: tuple[Path, Sizes]) -> None:
    catalogue = parse_release(small_file[0]).catalogue
    members = [m for r in catalogue.interactions.values() for g in r.groups for m in g.members]
    levels = Counter(len(m.atc) for m in members if m.atc)
    assert levels[4] > 0
    assert levels[5] > 0
    assert levels[7] > 0
    assert any(m.atc is None and m.substance_ids for m in members)
    assert {r.relevans for r in catalogue.interactions.values()} == {1, 2, 3}
    assert any(not r.active for r in catalogue.interactions.values())
    assert any(not p.active for p in catalogue.products.values())


def test_it_is_unmistakably_synthetic(small_file: tuple[Path, Sizes]) -> None:
    head = small_file[0].read_text(encoding="utf-8")[:400]
    assert "SYNTETISK TESTFIL" in head
    assert "not clinical data" in head
    catalogue = parse_release(small_file[0]).catalogue
    assert all(
        r.clinical_consequence.startswith("SYNTETISK TESTDATA") for r in catalogue.interactions.values()
    )


def test_compiles_into_a_working_index(small_file: tuple[Path, Sizes]) -> None:
    catalogue = parse_release(small_file[0]).catalogue
    index = InteractionIndex.compile(catalogue, "synthetic")
    record = next(
        r
        for r in catalogue.interactions.values()
        if r.active and r.relevans == 1 and all(g.members[0].atc for g in r.groups)
    )
    items = [CheckItem.atc(group.members[0].atc or "") for group in record.groups]
    assert record.id in {finding.interaction_id for finding in index.check(items).findings}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    digests = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_synthetic_fest(tmp_path / name, seed=seed, scale=0.005)
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1] != digests[2]


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.xml"
    assert main([str(out), "--seed", "2", "--scale", "0.005"]) == 0
    assert out.exists()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.slow
def test_full_size_file_meets_the_issue_minimums(tmp_path: Path) -> None:
    path = tmp_path / "full.xml"
    write_synthetic_fest(path, seed=1, scale=1.0)
    counts = parse_release(path).counts
    assert counts["product"] >= 10_000
    assert counts["package"] >= 15_000
    assert counts["interaction"] + counts["not_assessed"] >= 11_000
