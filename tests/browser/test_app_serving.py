"""How the service serves its client under /app/: caching, CSP and security headers, the manifest and icons,
the service worker's shell list, and the sign-in configuration. Plain HTTP; no browser needed."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.mobile import client_config, content_security_policy
from pml.settings import Environment, Settings
from tests.support.servers import ServerProcess

MOBILE = Path(__file__).resolve().parents[2] / "mobile"


@pytest.fixture(scope="module")
def http(live_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.base_url, timeout=10) as client:
        yield client


def shell_list(http: httpx.Client) -> list[str]:
    source = http.get("/app/sw.js").text
    block = re.search(r"const SHELL = \[(.*?)\];", source, re.S)
    assert block is not None
    return re.findall(r'"([^"]+)"', block.group(1))


def test_the_app_is_served_with_revalidation_csp_and_security_headers(http: httpx.Client) -> None:
    assert http.get("/app").headers["location"] == "/app/"
    page = http.get("/app/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    csp = page.headers["content-security-policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe" not in csp
    assert (page.headers["x-content-type-options"], page.headers["referrer-policy"]) == (
        "nosniff",
        "no-referrer",
    )
    again = http.get("/app/", headers={"If-None-Match": page.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


def test_the_html_has_no_inline_script_or_style(http: httpx.Client) -> None:
    html = http.get("/app/").text
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    for inline in ("<style", " style=", " onclick="):
        assert inline not in html


def test_only_client_files_are_served(http: httpx.Client) -> None:
    for path in ("/app/__init__.py", "/app/../pyproject.toml", "/app/%2e%2e/pml/settings.py", "/app/nope.js"):
        response = http.get(path)
        assert response.status_code == 404, path
    assert http.get("/app/js/app.js").headers["content-type"] == "text/javascript; charset=utf-8"


def test_the_service_worker_caches_every_module_and_changes_with_the_files(http: httpx.Client) -> None:
    worker = http.get("/app/sw.js")
    assert "__SHELL_VERSION__" not in worker.text
    assert re.search(r'const SHELL_VERSION = "[0-9a-f]{16}";', worker.text)
    shell = shell_list(http)
    for path in shell:
        assert http.get(f"/app/{path}").status_code == 200, path
    modules = {f"js/{p.name}" for p in (MOBILE / "js").glob("*.js")}
    assert modules <= set(shell), "a module the app imports is missing from the service worker's shell list"
    assert not any("/v1" in path for path in shell)


def test_the_manifest_makes_the_app_installable(http: httpx.Client) -> None:
    response = http.get("/app/manifest.webmanifest")
    assert response.headers["content-type"] == "application/manifest+json"
    manifest = json.loads(response.text)
    assert (manifest["start_url"], manifest["scope"], manifest["display"], manifest["lang"]) == (
        "/app/",
        "/app/",
        "standalone",
        "nb",
    )
    sizes = set()
    for icon in manifest["icons"]:
        image = http.get(f"/app/{icon['src']}")
        assert image.status_code == 200
        if icon["type"] == "image/png":
            width, height = struct.unpack(">II", image.content[16:24])  # the PNG IHDR
            assert icon["sizes"] == f"{width}x{height}"
            sizes.add((width, icon["purpose"]))
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes


def test_the_client_config_says_how_to_sign_in(http: httpx.Client) -> None:
    response = http.get("/app/config.json")
    assert response.headers["cache-control"] == "no-store"
    config = response.json()
    assert config["auth"] == {"mode": "development", "issuer": None, "client_id": None, "scope": None}
    assert (config["time_zone"], config["retention_hours"], config["development_tokens"]) == (
        "Europe/Oslo",
        12,
        True,
    )


def test_a_configured_oauth_client_signs_in_with_pkce_against_the_issuer(tmp_path: Path) -> None:
    settings = Settings(
        environment=Environment.PRODUCTION,
        database_url="postgresql://db/pml",
        auth_allow_development_key=False,
        auth_jwks_file=tmp_path / "jwks.json",
        allow_synthetic_national_ids=False,
        auth_issuer="https://helseid-sts.nhn.no",
        mobile_oauth_client_id="pml-hjemmetjeneste",
        mobile_data_retention_hours=10,
    )
    config = client_config(settings)
    assert config["auth"] == {
        "mode": "oauth",
        "issuer": "https://helseid-sts.nhn.no",
        "client_id": "pml-hjemmetjeneste",
        "scope": "openid profile pml",
    }
    assert (config["development_tokens"], config["retention_hours"]) == (False, 10)
    assert "connect-src 'self' https://helseid-sts.nhn.no;" in content_security_policy(settings)
