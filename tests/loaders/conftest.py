"""Paths to the committed FEST fixtures (tests read only the repo's copies, never the shared data folder)."""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fest"
EXTRACT = FIXTURES / "fest-utdrag-2026-09-08.xml"
NAMESPACED = FIXTURES / "fest-utdrag-2026-09-08-namespaced.xml"


@pytest.fixture(params=[EXTRACT, NAMESPACED], ids=["all-m30", "namespaced"])
def fest_fixture(request: pytest.FixtureRequest) -> Path:
    """Each test runs on the all-m30 extract and on its real-file-style namespaced variant."""
    path: Path = request.param
    return path
