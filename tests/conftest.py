"""Session fixtures: a real PostgreSQL with migrated schema, a real PML server process, tokens, clients.

Under CI=true nothing may skip: a skipped test there fails the run (see pytest_sessionfinish).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pml.auth.tokens import load_development_key
from pml.settings import Environment, Settings
from tests.support.catalogue import EXTRACT, load_and_activate
from tests.support.client import ListClient, make_token
from tests.support.keys import rsa_key, write_test_jwks
from tests.support.servers import (
    RedisProcess,
    ServerProcess,
    admin_database_url,
    create_migrated_database,
)

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped:
        reporter.write_line(f"CI=true: {skipped} test(s) skipped; under CI every test must run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pml")


@pytest.fixture(scope="session")
def admin_url(work_dir: Path) -> Iterator[str]:
    url, server = admin_database_url(work_dir / "embedded")
    yield url
    if server is not None:
        server.cleanup()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> str:
    return create_migrated_database(admin_url)


@pytest.fixture(scope="session")
def server_settings(work_dir: Path, database_url: str) -> Settings:
    settings = Settings(
        environment=Environment.TEST, data_dir=work_dir / "data", database_url=database_url,
        max_list_entries=40, seed_demo_patients=0, auth_jwks_file=work_dir / "jwks.json",
    )
    load_development_key(settings)  # created once, before any server process reads it
    write_test_jwks(settings, work_dir / "jwks.json", rsa_key(work_dir / "rsa.pem"))
    return settings


@pytest.fixture(scope="session")
def redis_url(work_dir: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port (scripts/test-services.sh installs it on a fresh machine)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    server = RedisProcess(work_dir / "redis").start()
    yield server.url
    server.stop()


def server_env(settings: Settings, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PML_")}
    env |= {
        "PML_ENVIRONMENT": settings.environment.value,
        "PML_DATA_DIR": str(settings.data_dir),
        "PML_DATABASE_URL": str(settings.database_url),
        "PML_MAX_LIST_ENTRIES": str(settings.max_list_entries),
        "PML_SEED_DEMO_PATIENTS": "0",
        "PML_AUTH_JWKS_FILE": str(settings.auth_jwks_file),
        # Tests share a server and a few tokens, and a fast server lets one test's requests pass the default
        # 100 per second per client; tests of the rate limit set their own.
        "PML_RATE_LIMIT_PER_SECOND": "100000",
    }
    return env | overrides


@pytest.fixture(scope="session")
def catalogue_release_id(database_url: str) -> str:
    """The real FEST extract, loaded and active in the test database before any server starts."""
    return load_and_activate(database_url, EXTRACT)


@pytest.fixture(scope="session")
def live_server(
    server_settings: Settings, work_dir: Path, catalogue_release_id: str
) -> Iterator[ServerProcess]:
    server = ServerProcess(env=server_env(server_settings), log_path=work_dir / "server.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prescriber_token(server_settings: Settings) -> str:
    return make_token(server_settings)


@pytest.fixture
def lists(live_server: ServerProcess, prescriber_token: str) -> Iterator[ListClient]:
    client = ListClient(live_server.base_url, prescriber_token)
    yield client
    client.close()
