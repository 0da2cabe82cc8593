"""Catalogue releases for tests: load the real FEST extract (and variants of it) through the real loader, and
activate or roll back through the real service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from loaders.fest import FestReader
from pml.catalogue.loader import LoadOutcome, load_release
from pml.catalogue.repository import ReleaseRepository
from pml.catalogue.service import ActivationOutcome, CatalogueService
from pml.db.engine import Database
from pml.db.urls import libpq_url
from pml.settings import Settings

FEST_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fest"
EXTRACT = FEST_FIXTURES / "fest-utdrag-2026-09-08.xml"
NAMESPACED = FEST_FIXTURES / "fest-utdrag-2026-09-08-namespaced.xml"
EXTRACT_SHA256 = "6c28e6a6e72ce42c2f85519bae07f285e8741a69237570c80bbf71513aaff003"

# Ids in the real extract (see tests/fixtures/fest/README.md).
PERIKUM_SUBSTANCE_ID = "ID_D8977B6C-F30E-40E2-AA71-E7F3A4B9497E"
AMITRIPTYLIN_ABCUR_50_ID = "ID_012C7C0D-77BC-4F3D-BEBE-663743B03C1F"
AMITRIPTYLIN_ABCUR_25_ID = "ID_159E6443-2B09-4071-B57F-731C53727EB5"
AMITRIPTYLIN_ORIFARM_10_ID = "ID_22A42A6A-884E-4A30-875D-08ACAA69B46E"
AMITRIPTYLIN_CT_25_VARENR = "342044"
AMITRIPTYLIN_CT_25_ID = "ID_37D01760-8689-44BF-92C1-0A76BC2D39C9"
SIMEPREVIR_POSAKONAZOL_ID = "ID_FD61A401-0759-44AE-AED9-A3A900F87802"
TERBINAFIN_AMITRIPTYLIN_ID = "ID_43E3CEDF-77A1-4D0D-844A-9F8A01267559"
FENTANYL_AMITRIPTYLIN_ID = "ID_04946C36-7AC1-4CEF-B967-A63D009F435E"

XXE = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE FEST [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<FEST xmlns="http://www.kith.no/xmlstds/eresept/m30/2014-12-01"><HentetDato>&xxe;</HentetDato></FEST>
"""
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE FEST [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<FEST xmlns="http://www.kith.no/xmlstds/eresept/m30/2014-12-01"><HentetDato>&lol9;</HentetDato></FEST>
"""
ACTIVE_ENTRY_STATUS = '<Status V="A" DN="Aktiv oppføring" />'
WITHDRAWN_ENTRY_STATUS = '<Status V="U" DN="Utgått oppføring" />'

T = TypeVar("T")


def load(database_url: str, path: Path) -> LoadOutcome:
    return load_release(database_url, FestReader(path))


def with_service(database_url: str, action: Callable[[CatalogueService], Awaitable[T]]) -> T:
    """One service call in one committed transaction, as the CLI and the API make it."""

    async def run() -> T:
        database = Database.from_settings(Settings(database_url=database_url), database_url)
        try:
            async with database.write_transaction() as session:
                return await action(CatalogueService(ReleaseRepository(session)))
        finally:
            await database.dispose()

    return asyncio.run(run())


def activate(database_url: str, release_id: str) -> ActivationOutcome:
    return with_service(database_url, lambda service: service.activate(release_id))


def load_and_activate(database_url: str, path: Path) -> str:
    release_id = load(database_url, path).release_id
    activate(database_url, release_id)
    return release_id


def query(database_url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Plain SQL, to assert what the database holds independently of the code under test."""
    with psycopg.connect(libpq_url(database_url)) as connection:
        return connection.execute(statement, params).fetchall()


def active_release_ids(database_url: str) -> list[str]:
    rows = query(database_url, "SELECT id FROM catalogue_release WHERE status = 'active'")
    return [str(row[0]) for row in rows]


def truncated_copy(path: Path, directory: Path, *, keep_bytes: int = 30_000) -> Path:
    """The first `keep_bytes` of a file: what an interrupted download leaves behind."""
    target = directory / f"truncated-{path.name}"
    target.write_bytes(path.read_bytes()[:keep_bytes])
    return target


def written(directory: Path, name: str, text: str) -> Path:
    target = directory / name
    target.write_text(text, encoding="utf-8")
    return target


def variant(directory: Path, name: str, edit: Callable[[str], str]) -> Path:
    """The extract with one textual edit (a different file, so a different sha256)."""
    return written(directory, name, edit(EXTRACT.read_text(encoding="utf-8")))


def with_first_product_withdrawn(text: str) -> str:
    """The first LegemiddelMerkevare (Amitriptylin Abcur tab 50 mg) gets Status U."""
    return text.replace(ACTIVE_ENTRY_STATUS, WITHDRAWN_ENTRY_STATUS, 1)


def wait_until(condition: Callable[[], bool], *, timeout: float = 10, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(interval)


def with_first_product_twice(text: str) -> str:
    """The first OppfLegemiddelMerkevare repeated: two records with one id."""
    start = text.index("<OppfLegemiddelMerkevare>")
    end = text.index("</OppfLegemiddelMerkevare>") + len("</OppfLegemiddelMerkevare>")
    return text[:start] + text[start:end] + text[start:]
