"""The `pml` command: serve, migrate, seed, mint development tokens.

With no PML_DATABASE_URL every command uses the embedded PostgreSQL under PML_DATA_DIR (default `.pml/`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from pml.catalogue.cli import catalogue_app, ensure_bundled_catalogue
from pml.events.cli import relay
from pml.settings import Settings, get_settings

app = typer.Typer(help="PML — the national patient medication list.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(catalogue_app, name="catalogue")
app.command("relay")(relay)
console = Console(stderr=True)


def database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started now, and exported for worker processes)."""
    if settings.database_url is not None:
        return settings.database_url
    from pml.db.embedded import server_database_url, start_embedded_server

    console.print(f"[dim]embedded PostgreSQL under {settings.data_dir.resolve()}/pgdata[/dim]")
    url = server_database_url(start_embedded_server(settings.data_dir))
    os.environ["PML_DATABASE_URL"] = url
    return url


@db_app.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """Apply schema migrations up to REVISION (default: the newest)."""
    from pml.db.migrate import upgrade

    upgrade(database_url(get_settings()), revision)
    console.print(f"database upgraded to {revision}")


@db_app.command("check")
def db_check() -> None:
    """Fail if the table models and the migrations disagree."""
    from pml.db.migrate import check

    check(database_url(get_settings()))


@app.command()
def seed(
    patients: Annotated[int, typer.Option(min=1, help="how many synthetic patients")] = 10,
    random_seed: Annotated[int, typer.Option("--seed", help="same seed, same patients")] = 2026,
    bulk: Annotated[bool, typer.Option(help="write with COPY, not via the service: for load tests")] = False,
) -> None:
    """Create synthetic demo patients with realistic medication lists (synthetic national ids)."""
    settings = get_settings()
    url = database_url(settings)
    if bulk:
        _seed_bulk(settings, url, patients, random_seed)
        return
    created = asyncio.run(_seed(settings, url, patients, random_seed))
    console.print(f"seeded {len(created)} patients, e.g. {', '.join(created[:3])}")


def _seed_bulk(settings: Settings, url: str, count: int, random_seed: int) -> None:
    from rich.progress import Progress

    from pml.seed.bulk import bulk_seed

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("seeding (COPY)", total=count)
        outcome = bulk_seed(
            settings, url, count=count, seed=random_seed, on_batch=lambda n: progress.advance(task, n)
        )
    console.print(
        f"seeded {outcome.created:,} new patients of {outcome.requested:,} ({outcome.entries:,} entries, "
        f"{outcome.changes:,} changes; catalogue release {outcome.catalogue_release or 'none'}) in "
        f"{outcome.seconds:.0f} s, e.g. {', '.join(outcome.sample_patients)}"
    )


async def _seed(settings: Settings, url: str, count: int, random_seed: int) -> list[str]:
    from rich.progress import Progress

    from pml.db.engine import Database
    from pml.seed.demo import seed_patients

    database = Database.from_settings(settings, url)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("seeding", total=count)
            return await seed_patients(
                database, count, seed=random_seed, max_entries=settings.max_list_entries,
                on_patient=lambda _: progress.advance(task),
            )
    finally:
        await database.dispose()


@app.command()
def token(
    role: Annotated[str, typer.Option(help="prescriber, nurse, pharmacist, patient, system or admin")] = (
        "prescriber"
    ),
    subject: Annotated[str, typer.Option(help="the token's sub")] = "dev-user",
    name: Annotated[str, typer.Option()] = "Utvikler Lege",
    hpr: Annotated[str | None, typer.Option(help="HPR number")] = "9144889",
    organisation: Annotated[str | None, typer.Option(help="organisation number")] = "974703300",
    source: Annotated[str | None, typer.Option(help="gp, hospital, home_care, pharmacy or patient")] = "gp",
    national_id: Annotated[str | None, typer.Option(help="the patient's own id (role patient)")] = None,
    scope: Annotated[
        list[str] | None, typer.Option(help="a scope, repeatable; system clients need e.g. list:read")
    ] = None,
    hours: Annotated[float, typer.Option(min=0.01, max=24)] = 8,
) -> None:
    """Print a development token signed with the local development key (refused in production)."""
    import datetime as dt

    from pml.auth.tokens import DevelopmentClaims, load_development_key, mint_token

    settings = get_settings()
    claims = DevelopmentClaims(
        subject=subject, role=role, name=name, hpr_number=hpr, national_id=national_id,
        organisation=organisation, source=source, scopes=tuple(scope or ()),
    )
    key = load_development_key(settings)
    typer.echo(mint_token(key, claims, settings=settings, lifetime=dt.timedelta(hours=hours)))


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 1,
    migrate: Annotated[bool, typer.Option(help="apply migrations first")] = True,
) -> None:
    """Serve the API. Without configuration: embedded PostgreSQL, migrations, a few demo patients."""
    import uvicorn

    settings = get_settings()
    url = database_url(settings)
    if workers > 1 and settings.redis_url is None:
        # Each worker would cache on its own and miss the others' writes: no cache rather than a wrong one.
        os.environ["PML_LOCAL_CACHE"] = "false"
    if workers > 1:
        _share_metrics_between_workers(settings)
    if migrate:
        from pml.db.migrate import upgrade

        upgrade(url)
    if settings.embedded and settings.seed_demo_patients:
        _seed_demo_once(settings, url)
    ensure_bundled_catalogue(settings, url)
    console.print(f"PML API docs: http://{host}:{port}/v1/docs  (OpenAPI: /v1/openapi.json)")
    console.print(f"a development token: [bold]{Path(sys.argv[0])} token[/bold]")
    options: dict[str, Any] = dict(
        factory=True, host=host, port=port, workers=workers,
        loop="uvloop", http="httptools", access_log=False, proxy_headers=False, log_config=None,
    )
    if workers == 1:
        uvicorn.run("api.app:create_app", **options)  # exits non-zero when start-up fails
    else:
        from pml.serving import run_workers

        try:
            run_workers(uvicorn.Config("api.app:create_app", **options))
        except OSError as error:  # the port is taken, or the address is not this machine's
            console.print(f"[red]cannot listen on {host}:{port}: {error.strerror}[/red]")
            raise typer.Exit(1) from None


def _share_metrics_between_workers(settings: Settings) -> None:
    """Workers write their metrics to files in one fresh directory; /metrics sums them."""
    import shutil

    directory = settings.data_dir.resolve() / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _seed_demo_once(settings: Settings, url: str) -> None:
    patients = asyncio.run(_seed(settings, url, settings.seed_demo_patients, 2026))
    console.print(f"demo patients: {', '.join(patients)}")
