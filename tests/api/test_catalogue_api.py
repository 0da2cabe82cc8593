"""The catalogue over real HTTP: look-ups, search, releases; failed loads that leave the served release
untouched; and a running server that follows activations and rollbacks without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pml.auth.tokens import DevelopmentClaims
from pml.catalogue.errors import CatalogueLoadFailed
from pml.settings import Settings
from tests.conftest import server_env
from tests.support.catalogue import (
    AMITRIPTYLIN_CT_25_ID,
    AMITRIPTYLIN_CT_25_VARENR,
    BILLION_LAUGHS,
    EXTRACT,
    NAMESPACED,
    XXE,
    active_release_ids,
    load,
    load_and_activate,
    truncated_copy,
    wait_until,
    written,
)
from tests.support.client import ListClient, make_token
from tests.support.servers import ServerProcess, create_migrated_database

PML = str(Path(sys.executable).with_name("pml"))


def _get(http: httpx.Client, path: str, status: int = 200, **params: Any) -> Any:
    response = http.get(path, params=params)
    assert response.status_code == status, response.text
    return response.json()


# -- look-ups and search -------------------------------------------------------------------------------------


def test_a_product_with_its_ingredients_and_packages(lists: ListClient, catalogue_release_id: str) -> None:
    product = _get(lists.http, f"/v1/catalogue/products/{AMITRIPTYLIN_CT_25_ID}")
    assert (product["name_form_strength"], product["atc"], product["release_id"]) == (
        "Amitriptylin-CT tab 25 mg", "N06AA09", catalogue_release_id
    )  # fmt: skip
    assert [(i["name"], i["strength"]) for i in product["ingredients"]] == [("Amitriptylin", "25 mg")]
    assert [p["varenr"] for p in product["packages"]] == [AMITRIPTYLIN_CT_25_VARENR]


def test_a_package_by_varenr_with_its_product_and_swap_group(lists: ListClient) -> None:
    package = _get(lists.http, "/v1/catalogue/packages/147665")
    assert (package["ean"], package["product"]["name_form_strength"]) == (
        "7046261476652",
        "Amitriptylin Orifarm tab 25 mg",
    )
    assert (package["swap_group"]["code"], package["swap_group"]["name"]) == (
        "002256",
        "AMITRIPTYLIN TABLETT 25 MG",
    )


@pytest.mark.parametrize(
    ("path", "problem"),
    [("/v1/catalogue/products/ID_NOT-IN-FEST", "catalogue-product-not-found"),
     ("/v1/catalogue/packages/000000", "catalogue-package-not-found"),
     ("/v1/catalogue/releases/424242", "catalogue-release-not-found")],
)  # fmt: skip
def test_unknown_records_are_404_problems(lists: ListClient, path: str, problem: str) -> None:
    assert _get(lists.http, path, 404)["type"].endswith(f"/{problem}")


def test_search_ranks_the_25_mg_products_first_and_pages(
    lists: ListClient, catalogue_release_id: str
) -> None:
    page = _get(lists.http, "/v1/catalogue/search", q="amitriptylin 25", limit=4)
    assert page["release_id"] == catalogue_release_id
    names = [hit["product"]["name_form_strength"] for hit in page["hits"]]
    assert names[0].endswith("25 mg")
    assert all(name.endswith("tab 25 mg") for name in names), names
    rest = _get(lists.http, "/v1/catalogue/search", q="amitriptylin 25", offset=4, limit=20)
    assert rest["total"] == page["total"] > 4
    assert not {h["product"]["id"] for h in rest["hits"]} & {h["product"]["id"] for h in page["hits"]}
    assert all(h["score"] <= page["hits"][-1]["score"] for h in rest["hits"])


@pytest.mark.parametrize(
    "params", [{"q": ""}, {"q": "x", "limit": 0}, {"q": "x", "offset": -1}, {"q": "x" * 101}]
)
def test_invalid_search_parameters_are_a_422_problem(lists: ListClient, params: dict[str, Any]) -> None:
    assert _get(lists.http, "/v1/catalogue/search", 422, **params)["type"].endswith("/validation-error")


# -- releases ------------------------------------------------------------------------------------------------


def test_the_releases_and_the_one_this_server_serves(lists: ListClient, catalogue_release_id: str) -> None:
    listing = _get(lists.http, "/v1/catalogue/releases")
    assert listing["active_release_id"] == catalogue_release_id
    active = [r for r in listing["releases"] if r["status"] == "active"]
    assert [r["id"] for r in active] == [catalogue_release_id]
    served = _get(lists.http, "/v1/catalogue/releases/active")
    assert (served["release"]["id"], served["database_active_release_id"]) == (catalogue_release_id,) * 2
    assert served["release"]["sha256"] == "6c28e6a6e72ce42c2f85519bae07f285e8741a69237570c80bbf71513aaff003"


def _bad_file(kind: str, directory: Path) -> Path:
    if kind == "truncated":
        return truncated_copy(EXTRACT, directory, keep_bytes=50_000)
    return written(directory, f"{kind}.xml", {"xxe": XXE, "billion-laughs": BILLION_LAUGHS}[kind])


@pytest.mark.parametrize("kind", ["truncated", "xxe", "billion-laughs"])
def test_a_failed_load_leaves_the_served_release_untouched(
    lists: ListClient, database_url: str, catalogue_release_id: str, tmp_path: Path, kind: str
) -> None:
    with pytest.raises(CatalogueLoadFailed) as failed:
        load(database_url, _bad_file(kind, tmp_path))
    assert active_release_ids(database_url) == [catalogue_release_id]
    served = _get(lists.http, "/v1/catalogue/releases/active")
    assert (served["release"]["id"], served["database_active_release_id"]) == (catalogue_release_id,) * 2
    failed_release = _get(lists.http, f"/v1/catalogue/releases/{failed.value.extensions['release_id']}")
    assert failed_release["status"] == "failed"
    assert failed_release["error"]
    check = lists.http.post("/v1/interactions/check", json={"items": [
        {"kind": "atc", "value": "J05AP05"}, {"kind": "atc", "value": "J02AC04"}]})  # fmt: skip
    assert [f["relevans"] for f in check.json()["findings"]] == [1]


def test_only_admins_manage_releases(
    live_server: ServerProcess, server_settings: Settings, lists: ListClient
) -> None:
    release_id = _get(lists.http, "/v1/catalogue/releases/active")["release"]["id"]
    prescriber = lists.http.post(f"/v1/catalogue/releases/{release_id}/activate")
    assert prescriber.status_code == 403
    with _client(live_server, server_settings, "admin") as admin:
        already = admin.post(f"/v1/catalogue/releases/{release_id}/activate")
        nothing_before = admin.post("/v1/catalogue/releases/rollback")
    assert (already.status_code, already.json()["changed"]) == (200, False)
    assert nothing_before.status_code == 409
    assert nothing_before.json()["type"].endswith("/catalogue-no-previous-release")


def _client(server: ServerProcess, settings: Settings, role: str) -> httpx.Client:
    token = make_token(settings, DevelopmentClaims(subject=f"test-{role}", role=role))
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


# -- a server of its own, that starts with no catalogue and follows activations ------------------------------

REFRESH_SECONDS = 0.3


@pytest.fixture(scope="module")
def own_database(admin_url: str) -> str:
    return create_migrated_database(admin_url, prefix="pml_catalogue_swap")


@pytest.fixture(scope="module")
def own_server(own_database: str, server_settings: Settings, work_dir: Path) -> Iterator[ServerProcess]:
    env = server_env(server_settings, PML_DATABASE_URL=own_database,
                     PML_CATALOGUE_REFRESH_SECONDS=str(REFRESH_SECONDS))  # fmt: skip
    server = ServerProcess(env=env, log_path=work_dir / "catalogue-swap-server.log").start()
    yield server
    server.stop()


def _released_check(http: httpx.Client) -> httpx.Response:
    return http.post("/v1/interactions/check", json={"items": [
        {"kind": "atc", "value": "D01BA02"}, {"kind": "atc", "value": "N06AA09"}]})  # fmt: skip


def _serves(http: httpx.Client, release_id: str) -> bool:
    response = _released_check(http)
    return response.status_code == 200 and response.json()["release_id"] == release_id


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PML_")} | {
        "PML_DATABASE_URL": database_url
    }
    return subprocess.run(
        [PML, "catalogue", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_running_server_follows_activation_and_rollback_without_restart(
    own_server: ServerProcess, own_database: str, server_settings: Settings
) -> None:
    with _client(own_server, server_settings, "prescriber") as http:
        _follow_activations(http, own_server, own_database, server_settings)


def _follow_activations(
    http: httpx.Client, server: ServerProcess, database_url: str, settings: Settings
) -> None:
    unavailable = _released_check(http)
    assert unavailable.status_code == 503
    assert unavailable.json()["type"].endswith("/catalogue-unavailable")
    assert http.get("/v1/catalogue/search", params={"q": "amitriptylin"}).status_code == 503

    first = load_and_activate(database_url, EXTRACT)
    wait_until(lambda: _serves(http, first), timeout=10 * REFRESH_SECONDS + 5)

    second = load(database_url, NAMESPACED).release_id
    activated = _cli(database_url, "activate", second)
    assert activated.returncode == 0, activated.stderr
    wait_until(lambda: _serves(http, second), timeout=10 * REFRESH_SECONDS + 5)
    result = _released_check(http).json()
    assert [(f["relevans"], f["release_id"]) for f in result["findings"]] == [(2, second)]
    assert _get(http, "/v1/catalogue/releases/active")["release"]["source_name"] == NAMESPACED.name

    with _client(server, settings, "admin") as admin:
        rolled_back = admin.post("/v1/catalogue/releases/rollback")
    assert rolled_back.status_code == 200, rolled_back.text
    assert (rolled_back.json()["active"]["id"], rolled_back.json()["replaced"]["id"]) == (first, second)
    wait_until(lambda: _serves(http, first), timeout=10 * REFRESH_SECONDS + 5)
