"""`pml catalogue`: load, list, activate and roll back catalogue releases; write a synthetic FEST file.

This module is an edge, like the API: it wires the FEST reader (`loaders.fest`) to the source-agnostic
loader in `pml.catalogue.loader`. On a terminal a load shows a progress bar; otherwise it prints plain lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from pml.catalogue.errors import CatalogueLoadFailed
from pml.errors import DomainError
from pml.settings import Settings, get_settings

# The loader, the service and what they import (SQLAlchemy, psycopg, the engine) load only when a catalogue
# command runs: every `pml` command imports this module to register the sub-command.
if TYPE_CHECKING:
    from pml.catalogue.loader import LoadOutcome
    from pml.catalogue.schemas import ReleaseInfo
    from pml.catalogue.service import ActivationOutcome, CatalogueService

catalogue_app = typer.Typer(help="Drug catalogue (FEST) releases.", no_args_is_help=True)
console = Console(stderr=True, soft_wrap=True)  # log lines stay whole when not on a terminal
out = Console()

BUNDLED_EXTRACT = "data/fest/fest-utdrag-2026-09-08.xml"
# Entry tags of the FEST catalogues the loader keeps, to size the progress bar before parsing.
_COUNTED_ENTRY_TAGS = (
    b"<OppfLegemiddelMerkevare>", b"<OppfLegemiddelpakning>", b"<OppfVirkestoff>", b"<OppfByttegruppe>",
    b"<OppfInteraksjon>",
)  # fmt: skip
_SCAN_CHUNK = 4 * 1024 * 1024

T = TypeVar("T")


def _database_url(settings: Settings) -> str:
    from pml.cli import database_url  # pml.cli imports this module to register the sub-command

    return database_url(settings)


def _with_service(settings: Settings, url: str, action: Callable[[CatalogueService], Awaitable[T]]) -> T:
    """Run one service call in one committed transaction."""
    from pml.catalogue.repository import ReleaseRepository
    from pml.catalogue.service import CatalogueService
    from pml.db.engine import Database

    async def run() -> T:
        database = Database.from_settings(settings, url)
        try:
            async with database.write_transaction() as session:
                return await action(CatalogueService(ReleaseRepository(session)))
        finally:
            await database.dispose()

    return asyncio.run(run())


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(code=1)


# -- load ----------------------------------------------------------------------------------------------------


def expected_records(path: Path) -> int:
    """Roughly how many records a FEST file holds (for the progress bar only): one cheap pass counting entry
    tags. A chunk boundary may split a tag; the bar tolerates being off by a few."""
    total = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(_SCAN_CHUNK):
            total += sum(chunk.count(tag) for tag in _COUNTED_ENTRY_TAGS)
    return total


def _load_file(url: str, path: Path) -> LoadOutcome:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from loaders.fest import FestReader
    from pml.catalogue.loader import load_release

    if not console.is_terminal:
        console.print(f"loading {path} ...")
        return load_release(url, FestReader(path))
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"loading {path.name}", total=expected_records(path) or None)
        return load_release(
            url, FestReader(path), on_progress=lambda done: progress.update(task, completed=done)
        )


def _describe(release: ReleaseInfo) -> str:
    counts = ", ".join(f"{kind} {count:,}" for kind, count in sorted(release.counts.items()))
    return f"release {release.id} (HentetDato {release.hentet_dato}, {release.status}): {counts}"


@catalogue_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="a FEST M30 file")],
    activate: Annotated[bool, typer.Option(help="make it the active release once loaded")] = False,
) -> None:
    """Load a FEST file as a new release. Loading the same file (sha256) again does nothing."""
    settings = get_settings()
    url = _database_url(settings)
    try:
        outcome = _load_file(url, file)
    except CatalogueLoadFailed as error:
        raise _fail(f"load failed, the active release is untouched: {error.detail}") from None
    release = _with_service(settings, url, lambda service: service.release(outcome.release_id))
    if outcome.created:
        console.print(f"loaded {_describe(release)} in {outcome.seconds:.1f}s")
    else:
        console.print(f"already loaded as {_describe(release)}; nothing was done")
    if activate:
        _activate(settings, url, outcome.release_id)


# -- list, activate, rollback --------------------------------------------------------------------------------


@catalogue_app.command("list")
def list_releases() -> None:
    """Every release, newest first, with its status."""
    settings = get_settings()
    releases = _with_service(settings, _database_url(settings), lambda service: service.releases()).releases
    columns = ("id", "status", "HentetDato", "source", "records", "load time", "sha256", "note")
    rows = [_release_row(release) for release in releases]
    if not out.is_terminal:  # plain tab-separated lines for scripts and logs
        for row in (columns, *rows):
            typer.echo("\t".join(row))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _release_row(release: ReleaseInfo) -> tuple[str, ...]:
    seconds = f"{release.load_seconds:.1f}s" if release.load_seconds is not None else ""
    records = f"{sum(release.counts.values()):,}"
    return (release.id, release.status, release.hentet_dato or "", release.source_name, records, seconds,
            release.sha256[:12], release.error or "")  # fmt: skip


def _report_activation(outcome: ActivationOutcome) -> None:
    if not outcome.changed:
        console.print(f"{_describe(outcome.active)} is already active; nothing was done")
        return
    replaced = f" (replacing release {outcome.replaced.id})" if outcome.replaced else ""
    console.print(f"active now: {_describe(outcome.active)}{replaced}")
    console.print("[dim]running servers switch within PML_CATALOGUE_REFRESH_SECONDS[/dim]")


def _activate(settings: Settings, url: str, release_id: str) -> None:
    try:
        _report_activation(_with_service(settings, url, lambda service: service.activate(release_id)))
    except DomainError as error:
        raise _fail(error.detail) from None


@catalogue_app.command("activate")
def activate(
    release_id: Annotated[str, typer.Argument(help="the release id, as `pml catalogue list` shows")],
) -> None:
    """Make a loaded release the active one, atomically."""
    settings = get_settings()
    _activate(settings, _database_url(settings), release_id)


@catalogue_app.command("rollback")
def rollback() -> None:
    """Make the previously active release active again."""
    settings = get_settings()
    try:
        _report_activation(
            _with_service(settings, _database_url(settings), lambda service: service.rollback())
        )
    except DomainError as error:
        raise _fail(error.detail) from None


# -- synthetic -----------------------------------------------------------------------------------------------


@catalogue_app.command("synthetic")
def synthetic(
    out_file: Annotated[Path, typer.Argument(metavar="OUT.xml", dir_okay=False, help="where to write it")],
    seed: Annotated[int, typer.Option(help="same seed and scale, same bytes")] = 1,
    scale: Annotated[
        float, typer.Option(min=0.001, max=10, help="1.0 = full size (>= 10,000 products)")
    ] = 1.0,
) -> None:
    """Write a SYNTHETIC FEST file of realistic size and shape, for load and performance tests only.
    Its content is invented and must never be presented as clinical data."""
    from loaders.fest.synthetic import write_synthetic_fest

    sizes = write_synthetic_fest(out_file, seed=seed, scale=scale)
    console.print(
        f"wrote {out_file} ({out_file.stat().st_size / 1e6:.1f} MB, synthetic, not clinical data): {sizes}"
    )


# -- the embedded default ------------------------------------------------------------------------------------


def ensure_bundled_catalogue(settings: Settings, url: str) -> None:
    """On the embedded default, make sure some release is active: load and activate the bundled FEST extract
    (package data) when none is. Configured deployments load their catalogue explicitly and are left alone."""
    if not settings.embedded:
        return
    if _with_service(settings, url, lambda service: service.active_release_id()) is not None:
        return
    from loaders.fest import FestReader
    from pml.catalogue.loader import load_release

    with as_file(files("pml").joinpath(BUNDLED_EXTRACT)) as path:
        outcome = load_release(url, FestReader(path))
    activated = _with_service(settings, url, lambda service: service.activate(outcome.release_id))
    console.print(f"catalogue: the bundled FEST extract is active as {_describe(activated.active)}")
