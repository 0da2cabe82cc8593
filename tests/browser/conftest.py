"""A real headless Chromium (Debian's /usr/bin/chromium, driven by playwright) against the real service.

`playwright install` is never used: its browser download does not work on our machines, and Debian's chromium
is what `scripts/test-services.sh` installs. Without chromium or playwright these tests skip on a developer's
machine and fail under CI=true (where nothing may skip).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pml.auth.tokens import DevelopmentClaims
from pml.settings import Settings
from tests.support.client import make_token
from tests.support.servers import ServerProcess

CHROMIUM = os.environ.get("PML_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 780}
NURSE = DevelopmentClaims(
    subject="browser-nurse",
    role="nurse",
    name="Kari Sykepleier",
    hpr_number="9144890",
    organisation="974703300",
    source="home_care",
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; under CI=true the browser tests must run (make test installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium(live_server: ServerProcess) -> Iterator[Any]:
    """Per module, and only after the server is up: while playwright's sync API runs, this thread has a
    running event loop, so session fixtures that call asyncio.run (the catalogue load) must come first, and
    later test modules must find the loop gone."""
    if shutil.which(CHROMIUM) is None:
        _unavailable(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Any, live_server: ServerProcess) -> Iterator[Any]:
    """A fresh browser profile per test (its own IndexedDB, caches and service worker), phone-sized."""
    context = chromium.new_context(
        base_url=live_server.base_url,
        viewport=PHONE,
        device_scale_factor=2,
        locale="nb-NO",
        timezone_id="Europe/Oslo",
        service_workers="allow",
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context: Any) -> Any:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert errors == [], f"uncaught errors in the page: {errors}"


@pytest.fixture(scope="session")
def nurse_token(server_settings: Settings) -> str:
    return make_token(server_settings, NURSE)


def screenshot(page: Any, name: str) -> None:
    """Phone-size screenshots for the README, written only when asked (PML_UPDATE_SCREENSHOTS=1)."""
    if os.environ.get("PML_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
