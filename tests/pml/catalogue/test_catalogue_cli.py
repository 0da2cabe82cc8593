"""`pml catalogue` as an operator runs it (a real process, output not a terminal so plain lines), and the
embedded default's bundled extract."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pml.catalogue.cli import ensure_bundled_catalogue, expected_records
from pml.settings import Settings
from tests.support.catalogue import (
    EXTRACT,
    EXTRACT_SHA256,
    NAMESPACED,
    active_release_ids,
    query,
    truncated_copy,
)
from tests.support.servers import create_migrated_database

PML = str(Path(sys.executable).with_name("pml"))


@pytest.fixture
def db(admin_url: str) -> str:
    return create_migrated_database(admin_url, prefix="pml_catalogue_cli")


def _pml(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PML_")} | {"PML_DATABASE_URL": db}
    return subprocess.run(
        [PML, "catalogue", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _listed(db: str) -> list[list[str]]:
    listing = _pml(db, "list")
    assert listing.returncode == 0, listing.stderr
    header, *rows = (line.split("\t") for line in listing.stdout.splitlines())
    assert header[:2] == ["id", "status"]
    return rows


def test_load_activate_list_and_roll_back(db: str) -> None:
    loaded = _pml(db, "load", str(EXTRACT), "--activate")
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded release 1" in loaded.stderr
    assert "active now: release 1" in loaded.stderr
    again = _pml(db, "load", str(EXTRACT))
    assert (again.returncode, "already loaded as release 1" in again.stderr) == (0, True)
    assert _pml(db, "load", str(NAMESPACED), "--activate").returncode == 0
    assert [row[:2] for row in _listed(db)] == [["2", "active"], ["1", "previous"]]
    rolled_back = _pml(db, "rollback")
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert [row[:2] for row in _listed(db)] == [["2", "loaded"], ["1", "active"]]
    nothing_left = _pml(db, "rollback")
    assert nothing_left.returncode == 1
    assert "nothing to roll back to" in nothing_left.stderr


def test_a_failed_load_says_so_and_exits_non_zero(db: str, tmp_path: Path) -> None:
    assert _pml(db, "load", str(EXTRACT), "--activate").returncode == 0
    failed = _pml(db, "load", str(truncated_copy(EXTRACT, tmp_path)), "--activate")
    assert failed.returncode == 1
    assert "load failed, the active release is untouched: malformed FEST XML" in failed.stderr
    assert active_release_ids(db) == ["1"]
    assert [row[:2] for row in _listed(db)] == [["2", "failed"], ["1", "active"]]
    refused = _pml(db, "activate", "2")
    assert (refused.returncode, "only a fully loaded release can be activated" in refused.stderr) == (1, True)


def test_a_synthetic_file_is_written_and_loads(db: str, tmp_path: Path) -> None:
    out = tmp_path / "synthetic.xml"
    written = _pml(db, "synthetic", str(out), "--scale", "0.01")
    assert written.returncode == 0, written.stderr
    assert "SYNTETISK" in out.read_text(encoding="utf-8")[:5000]
    loaded = _pml(db, "load", str(out))
    assert loaded.returncode == 0, loaded.stderr
    (counts,) = query(db, "SELECT counts FROM catalogue_release")[0]
    assert counts["product"] >= 100
    assert counts["interaction"] >= 100


def test_the_progress_estimate_counts_the_entries_the_loader_keeps() -> None:
    assert (
        expected_records(EXTRACT) == 12 + 12 + 2 + 5 + 14
    )  # products, packages, swap groups, interactions, substances


def test_the_embedded_default_activates_the_bundled_extract_once(db: str, tmp_path: Path) -> None:
    embedded = Settings(database_url=None, data_dir=tmp_path)
    ensure_bundled_catalogue(embedded, db)
    assert query(db, "SELECT sha256, status FROM catalogue_release") == [(EXTRACT_SHA256, "active")]
    ensure_bundled_catalogue(embedded, db)
    assert query(db, "SELECT count(*) FROM catalogue_release") == [(1,)]


def test_a_configured_deployment_gets_no_bundled_catalogue(db: str, tmp_path: Path) -> None:
    ensure_bundled_catalogue(Settings(database_url=db, data_dir=tmp_path), db)
    assert query(db, "SELECT count(*) FROM catalogue_release") == [(0,)]
