"""The real FEST extract (both namespace forms) parsed and compiled once per session."""

from pathlib import Path

import pytest

from interactions.engine import InteractionIndex
from interactions.model import Catalogue
from loaders.fest.parser import parse_catalogue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fest"
FIXTURE_FILES = {
    "all-m30": FIXTURES / "fest-utdrag-2026-09-08.xml",
    "namespaced": FIXTURES / "fest-utdrag-2026-09-08-namespaced.xml",
}
RELEASE_ID = "test-release-2026-09-08"


@pytest.fixture(scope="session", params=sorted(FIXTURE_FILES))
def extract_catalogue(request: pytest.FixtureRequest) -> Catalogue:
    return parse_catalogue(FIXTURE_FILES[request.param])


@pytest.fixture(scope="session")
def extract_index(extract_catalogue: Catalogue) -> InteractionIndex:
    return InteractionIndex.compile(extract_catalogue, RELEASE_ID)
