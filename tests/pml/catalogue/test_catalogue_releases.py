"""Catalogue releases in PostgreSQL: loading, the no-op reload, activation and rollback, failed loads that
leave the active release untouched, and withdrawn records kept out of the active view. Each test gets its own
migrated database, so activations here never disturb the shared test server."""

from __future__ import annotations

from pathlib import Path

import orjson
import psycopg
import pytest

from interactions.engine import CheckItem
from loaders.fest import parse_release
from pml.catalogue import lookups
from pml.catalogue.compiled import CompiledRelease, compile_release
from pml.catalogue.errors import (
    CatalogueLoadFailed,
    NoPreviousRelease,
    ProductNotFound,
    ReleaseNotActivatable,
    ReleaseNotFound,
)
from pml.catalogue.repository import record_row
from pml.catalogue.service import CatalogueService
from pml.db.urls import libpq_url
from tests.support.catalogue import (
    AMITRIPTYLIN_ABCUR_50_ID,
    AMITRIPTYLIN_CT_25_ID,
    BILLION_LAUGHS,
    EXTRACT,
    EXTRACT_SHA256,
    NAMESPACED,
    SIMEPREVIR_POSAKONAZOL_ID,
    XXE,
    activate,
    active_release_ids,
    load,
    load_and_activate,
    query,
    truncated_copy,
    variant,
    with_first_product_twice,
    with_first_product_withdrawn,
    with_service,
    written,
)
from tests.support.servers import create_migrated_database

RECORD_TABLES = (
    "catalogue_product", "catalogue_package", "catalogue_substance", "catalogue_substance_strength",
    "catalogue_swap_group", "catalogue_interaction", "catalogue_not_assessed",
)  # fmt: skip


@pytest.fixture
def db(admin_url: str) -> str:
    return create_migrated_database(admin_url, prefix="pml_catalogue")


def _statuses(db: str) -> dict[str, str]:
    return {str(row[0]): row[1] for row in query(db, "SELECT id, status FROM catalogue_release")}


def _record_count(db: str, release_id: str) -> int:
    return sum(
        query(db, f"SELECT count(*) FROM {table} WHERE release_id = %s", int(release_id))[0][0]  # noqa: S608
        for table in RECORD_TABLES
    )


def _compiled(db: str, release_id: str) -> CompiledRelease:
    async def read(service: CatalogueService) -> CompiledRelease:
        release = await service.release(release_id)
        return compile_release(release, await service.records(release))

    return with_service(db, read)


# -- loading -------------------------------------------------------------------------------------------------


def test_loading_the_extract_stores_every_record_and_describes_the_release(db: str) -> None:
    outcome = load(db, EXTRACT)
    assert (outcome.created, outcome.records) == (True, 45)
    columns = "source_name, sha256, hentet_dato, status, counts, skipped, size_bytes, load_seconds"
    row = query(db, f"SELECT {columns} FROM catalogue_release WHERE id = %s", int(outcome.release_id))[0]  # noqa: S608
    source_name, sha256, hentet_dato, status, counts, skipped, size, seconds = row
    assert (source_name, sha256, hentet_dato, status) == (
        EXTRACT.name,
        EXTRACT_SHA256,
        "2026-09-08T03:09:06",
        "loaded",
    )
    assert counts == {"product": 12, "package": 12, "substance": 5, "substance_with_strength": 9,
                      "swap_group": 2, "interaction": 4, "not_assessed": 1}  # fmt: skip
    assert (skipped, size) == ({"OppfHandelsvare": 1}, EXTRACT.stat().st_size)
    assert seconds > 0
    assert _record_count(db, outcome.release_id) == 45
    assert query(db, "SELECT product_id, atc FROM catalogue_package WHERE varenr = '342044'") == [
        (AMITRIPTYLIN_CT_25_ID, "N06AA09")
    ]


def test_stored_bodies_are_the_records_to_dict(db: str) -> None:
    release_id = int(load(db, EXTRACT).release_id)
    parsed = parse_release(EXTRACT).catalogue
    for record in parsed.records():
        row = record_row(release_id, record)
        assert orjson.loads(row[-1]) == orjson.loads(orjson.dumps(record.to_dict()))
    stored = query(
        db, "SELECT body FROM catalogue_interaction WHERE interaction_id = %s", SIMEPREVIR_POSAKONAZOL_ID
    )
    assert stored[0][0] == orjson.loads(
        orjson.dumps(parsed.interactions[SIMEPREVIR_POSAKONAZOL_ID].to_dict())
    )


def test_loading_the_same_file_twice_is_a_no_op_that_names_the_release(db: str) -> None:
    first = load(db, EXTRACT)
    again = load(db, EXTRACT)
    assert (again.created, again.release_id, again.records) == (False, first.release_id, 0)
    assert query(db, "SELECT count(*) FROM catalogue_release") == [(1,)]
    assert _record_count(db, first.release_id) == 45


def test_the_namespaced_variant_loads_the_same_records_as_another_release(db: str) -> None:
    plain, namespaced = load(db, EXTRACT), load(db, NAMESPACED)
    assert plain.release_id != namespaced.release_id
    assert _record_count(db, namespaced.release_id) == 45
    bodies = "SELECT body FROM catalogue_product WHERE release_id = %s ORDER BY product_id"
    assert query(db, bodies, int(plain.release_id)) == query(db, bodies, int(namespaced.release_id))


# -- activation and rollback ---------------------------------------------------------------------------------


def test_activation_moves_the_active_release_and_rollback_goes_back_one_step(db: str) -> None:
    first, second = load(db, EXTRACT).release_id, load(db, NAMESPACED).release_id
    assert activate(db, first).changed
    outcome = activate(db, second)
    assert (outcome.active.id, outcome.replaced.id if outcome.replaced else None) == (second, first)
    assert _statuses(db) == {first: "previous", second: "active"}
    rolled_back = with_service(db, lambda service: service.rollback())
    assert rolled_back.active.id == first
    assert _statuses(db) == {first: "active", second: "loaded"}
    with pytest.raises(NoPreviousRelease):
        with_service(db, lambda service: service.rollback())
    log = query(db, "SELECT release_id, replaced_release_id, action FROM catalogue_activation ORDER BY id")
    assert log == [(int(first), None, "activate"), (int(second), int(first), "activate"),
                   (int(first), int(second), "rollback")]  # fmt: skip


def test_activating_the_active_release_changes_nothing(db: str) -> None:
    release_id = load_and_activate(db, EXTRACT)
    outcome = activate(db, release_id)
    assert (outcome.changed, outcome.active.status) == (False, "active")
    assert query(db, "SELECT count(*) FROM catalogue_activation") == [(1,)]


def test_activating_the_previous_release_by_id_swaps_the_two(db: str) -> None:
    first, second = load(db, EXTRACT).release_id, load(db, NAMESPACED).release_id
    activate(db, first)
    activate(db, second)
    activate(db, first)
    assert _statuses(db) == {first: "active", second: "previous"}


def test_the_database_refuses_a_second_active_release_whatever_the_code_does(db: str) -> None:
    load_and_activate(db, EXTRACT)
    other = load(db, NAMESPACED).release_id
    with psycopg.connect(libpq_url(db)) as connection, pytest.raises(psycopg.errors.UniqueViolation):
        connection.execute("UPDATE catalogue_release SET status = 'active' WHERE id = %s", (int(other),))


def test_unknown_failed_and_loading_releases_cannot_be_activated(db: str, tmp_path: Path) -> None:
    with pytest.raises(ReleaseNotFound):
        activate(db, "999")
    with pytest.raises(ReleaseNotFound):
        activate(db, "not-an-id")
    with pytest.raises(CatalogueLoadFailed) as failed:
        load(db, truncated_copy(EXTRACT, tmp_path))
    with pytest.raises(ReleaseNotActivatable):
        activate(db, failed.value.extensions["release_id"])


# -- failed loads leave the active release untouched --------------------------------------------------------


def _bad_file(kind: str, directory: Path) -> Path:
    if kind == "truncated":
        return truncated_copy(EXTRACT, directory)
    if kind == "duplicate-id":
        return variant(directory, "duplicate.xml", with_first_product_twice)
    return written(directory, f"{kind}.xml", {"xxe": XXE, "billion-laughs": BILLION_LAUGHS}[kind])


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("truncated", "malformed FEST XML"),
        ("xxe", "document type declaration"),
        ("billion-laughs", "document type declaration"),
        ("duplicate-id", "the same record id twice"),
    ],
)
def test_a_bad_file_fails_cleanly_and_the_active_release_is_untouched(
    db: str, tmp_path: Path, kind: str, reason: str
) -> None:
    active = load_and_activate(db, EXTRACT)
    with pytest.raises(CatalogueLoadFailed, match=reason) as failed:
        load(db, _bad_file(kind, tmp_path))
    failed_id = failed.value.extensions["release_id"]
    assert active_release_ids(db) == [active]
    assert _statuses(db) == {active: "active", failed_id: "failed"}
    assert reason in query(db, "SELECT error FROM catalogue_release WHERE id = %s", int(failed_id))[0][0]
    assert _record_count(db, failed_id) == 0
    assert _compiled(db, active).index.check([CheckItem.atc("J05AP05"), CheckItem.atc("J02AC04")]).findings


def test_a_file_that_failed_can_be_loaded_again_once_fixed(db: str, tmp_path: Path) -> None:
    path = written(tmp_path, "fest.xml", EXTRACT.read_text(encoding="utf-8")[:30_000])
    with pytest.raises(CatalogueLoadFailed):
        load(db, path)
    path.write_bytes(EXTRACT.read_bytes())
    assert load(db, path).created


def test_a_load_interrupted_by_a_crash_is_marked_failed_by_the_next_load(db: str) -> None:
    query_then_commit = (
        "INSERT INTO catalogue_release (source_name, sha256, status) VALUES ('x', 'y', 'loading')"
    )
    with psycopg.connect(libpq_url(db)) as connection:
        connection.execute(query_then_commit)
    load(db, EXTRACT)
    assert query(db, "SELECT status, error FROM catalogue_release WHERE sha256 = 'y'") == [
        ("failed", "the load was interrupted")
    ]


# -- the compiled release ------------------------------------------------------------------------------------


def test_a_release_compiled_from_its_rows_checks_like_the_file(db: str) -> None:
    release_id = load_and_activate(db, EXTRACT)
    compiled = _compiled(db, release_id)
    result = compiled.index.check([CheckItem.atc("J05AP05"), CheckItem.atc("J02AC04")])
    assert [(f.interaction_id, f.relevans, f.release_id) for f in result.findings] == [
        (SIMEPREVIR_POSAKONAZOL_ID, 1, release_id)
    ]
    assert compiled.packages_by_varenr["342044"].product_id == AMITRIPTYLIN_CT_25_ID


def test_withdrawn_records_are_stored_but_kept_out_of_the_active_view(db: str, tmp_path: Path) -> None:
    release_id = load(db, variant(tmp_path, "withdrawn.xml", with_first_product_withdrawn)).release_id
    assert query(
        db, "SELECT status FROM catalogue_product WHERE product_id = %s", AMITRIPTYLIN_ABCUR_50_ID
    ) == [("U",)]
    assert query(db, "SELECT withdrawn FROM catalogue_release WHERE id = %s", int(release_id)) == [
        ({"product": 1},)
    ]
    compiled = _compiled(db, release_id)
    with pytest.raises(ProductNotFound):
        lookups.product(compiled, AMITRIPTYLIN_ABCUR_50_ID)
    assert lookups.product(compiled, AMITRIPTYLIN_ABCUR_50_ID, include_withdrawn=True).status == "U"
    hits = lookups.search(compiled, "amitriptylin abcur 50", offset=0, limit=20).hits
    assert AMITRIPTYLIN_ABCUR_50_ID not in {hit.product.id for hit in hits}
    assert hits, "the other amitriptylin products are still found"


def test_service_reads_back_the_release_list_newest_first(db: str) -> None:
    first, second = load(db, EXTRACT).release_id, load(db, NAMESPACED).release_id
    activate(db, first)
    listing = with_service(db, lambda service: service.releases())
    assert [r.id for r in listing.releases] == [second, first]
    assert listing.active_release_id == first


def test_no_active_release_means_none_to_compile(db: str) -> None:
    load(db, EXTRACT)
    assert with_service(db, lambda service: service.active_release()) is None
    assert with_service(db, lambda service: service.active_release_id()) is None
