"""The nurse's client in a real headless Chromium against the real service: a visit online and offline, the
outbox sent once the network returns, a prescriber's change shown as changed since the last visit, sign-out
leaving nothing behind; and the client's basics: phone size and 200% zoom, touch targets, labels, keyboard."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from pml.auth.tokens import DevelopmentClaims
from pml.settings import Settings
from tests.browser.conftest import screenshot
from tests.support.client import ListClient, make_token
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess

# Without playwright the module skips on a developer's machine; under CI=true a skip fails the run.
expect = pytest.importorskip("playwright.sync_api").expect
OSLO = ZoneInfo("Europe/Oslo")
OTHER_NURSE = DevelopmentClaims(
    subject="browser-nurse-2", role="nurse", name="Ola Sykepleier", source="home_care"
)
RFC_7636_VERIFIER = (
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # the worked example of RFC 7636, appendix B
)
RFC_7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
FOUND_EVERYWHERE = """async (needle) => {
  const found = [];
  for (const { name } of await indexedDB.databases()) {
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open(name);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    for (const storeName of db.objectStoreNames) {
      const rows = await new Promise((resolve) => {
        const request = db.transaction(storeName).objectStore(storeName).getAll();
        request.onsuccess = () => resolve(request.result);
      });
      if (rows.length) found.push(`indexedDB ${name}/${storeName}: ${rows.length} rows`);
    }
    db.close();
  }
  for (const cacheName of await caches.keys()) {
    const cache = await caches.open(cacheName);
    for (const request of await cache.keys()) {
      const body = await (await cache.match(request)).text();
      if (request.url.includes("/v1/") || request.url.includes(needle) || body.includes(needle)) {
        found.push(`cache ${cacheName}: ${request.url}`);
      }
    }
  }
  if (sessionStorage.length || localStorage.length) found.push("web storage");
  return found;
}"""


def today() -> str:
    return dt.datetime.now(OSLO).date().isoformat()


def make_patient(lists: ListClient) -> tuple[str, dict[str, str]]:
    """A patient with four doses today, one as-needed medicine and a relevans 2 interaction."""
    patient_id = new_patient_id()
    entries = [
        entry_body(display_name="Metformin tablett 500 mg", start_date="2020-01-01"),
        entry_body(
            display_name="Terbinafin tablett 250 mg",
            atc="D01BA02",
            strength="250 mg",
            evening=None,
            dose_text="1 tablett om morgenen",
            start_date="2020-01-01",
        ),
        entry_body(
            display_name="Amitriptylin tablett 10 mg",
            atc="N06AA09",
            strength="10 mg",
            morning=None,
            evening=None,
            dose_text="1 tablett kl. 22",
            start_date="2020-01-01",
            dosage={"unit": "tablett", "schedule": [{"time_of_day": "night", "amount": 1}]},
        ),
        entry_body(
            display_name="Paracet tablett 500 mg",
            atc="N02BE01",
            morning=None,
            evening=None,
            dose_text="1–2 tabletter ved behov, høyst 8 per døgn",
            start_date="2020-01-01",
            dosage={"unit": "tablett", "as_needed": {"amount": 2, "max_per_day": 8, "condition": "smerter"}},
        ),
    ]
    ids = {}
    for version, body in enumerate(entries):
        response = lists.add(patient_id, body, version=version)
        assert response.status_code == 201, response.text
        ids[body["display_name"].split()[0]] = response.json()["entry"]["id"]
    return patient_id, ids


def sign_in(page: Any, token: str) -> None:
    page.goto("/app/")
    page.get_by_label("Utviklingstoken").fill(token)
    page.get_by_role("button", name="Logg inn").click()
    expect(page.get_by_role("heading", name="Finn pasient")).to_be_visible()


def open_patient(page: Any, patient_id: str) -> None:
    page.get_by_label("Fødselsnummer eller D-nummer (11 siffer)").fill(patient_id)
    page.get_by_role("button", name="Åpne pasient").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Pasient \d{6} \d{5}$"))).to_be_visible()


def dose(page: Any, entry_id: str, time_of_day: str) -> Any:
    group = {"morning": "Morgen", "evening": "Kveld", "night": "Natt"}[time_of_day]
    return page.get_by_role("region", name=group).locator(f'article.dose[data-entry="{entry_id}"]')


def wait_for_service_worker(page: Any, timeout: float = 10) -> None:
    # Polled from here: wait_for_function evaluates its predicate with eval(), which the app's CSP forbids.
    deadline = time.monotonic() + timeout
    while not page.evaluate("() => navigator.serviceWorker.controller !== null"):
        assert time.monotonic() < deadline, "the service worker never took control of the page"
        time.sleep(0.05)


def scroll_to(page: Any, element_id: str) -> None:
    page.evaluate("(id) => document.getElementById(id).scrollIntoView()", element_id)


def server_records(base_url: str, token: str, patient_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{base_url}/v1/patients/{patient_id}/administrations",
        params={"date": today()},
        headers={"Authorization": f"Bearer {token}", "X-PML-Purpose": "TREAT"},
    )
    assert response.status_code == 200, response.text
    return [record for chain in response.json()["chains"] for record in chain["records"]]


def test_a_visit_online_then_offline_then_back_online(
    page: Any, context: Any, lists: ListClient, live_server: ServerProcess, nurse_token: str
) -> None:
    patient_id, ids = make_patient(lists)
    sign_in(page, nurse_token)
    screenshot(page, "2-finn-pasient")
    wait_for_service_worker(page)
    open_patient(page, patient_id)

    # The patient: doses by time of day, the as-needed medicine, the interaction warning with its handling.
    expect(page.locator("article.dose")).to_have_count(4)
    expect(page.locator("#as-needed")).to_contain_text("maks 8 tablett per døgn")
    expect(page.locator("#interactions")).to_contain_text("Forholdsregler bør tas")
    expect(page.locator("#reviewed-marker")).to_contain_text("ikke ajourført")
    page.locator("#interactions summary").click()
    expect(page.locator("#interactions details")).to_contain_text("amitriptylin")
    page.locator("#interactions summary").click()
    screenshot(page, "3-pasient")
    scroll_to(page, "doses-title")
    screenshot(page, "4-doser-i-dag")

    # One tap online: sent.
    dose(page, ids["Metformin"], "morning").get_by_role("button", name=re.compile("^Gitt:")).click()
    expect(dose(page, ids["Metformin"], "morning").locator(".status")).to_have_text("Sendt")

    # Offline: two more, queued with their keys.
    context.set_offline(True)
    expect(page.locator("#connection")).to_have_text("Frakoblet")
    dose(page, ids["Terbinafin"], "morning").get_by_role("button", name=re.compile("^Ikke gitt:")).click()
    page.get_by_label("Pasienten nektet").check()
    screenshot(page, "6-ikke-gitt")
    page.get_by_role("button", name="Registrer ikke gitt").click()
    dose(page, ids["Metformin"], "evening").get_by_role("button", name=re.compile("^Gitt:")).click()
    for entry, time_of_day in (("Terbinafin", "morning"), ("Metformin", "evening")):
        expect(dose(page, ids[entry], time_of_day).locator(".status")).to_have_text(
            re.compile("^Venter på nett")
        )
    expect(page.locator("#outbox-summary")).to_have_text("2 venter")
    screenshot(page, "5-frakoblet-venter")

    # Still offline: leave the patient, reload the app (from the service worker), open the device's copy.
    page.get_by_role("button", name="‹ Pasientsøk").click()
    page.reload()
    expect(page.get_by_role("heading", name="Finn pasient")).to_be_visible()
    page.locator("#recent-patients button").first.click()
    expect(page.locator("#patient-offline")).to_contain_text("Frakoblet: viser kopien")
    assert server_records(live_server.base_url, nurse_token, patient_id).__len__() == 1

    # Meanwhile the GP changes Metformin.
    change = {"dose_text": "2 tabletter morgen og kveld", "source": "gp"}
    version = lists.version(patient_id)
    assert (
        lists.write("PATCH", patient_id, f"/entries/{ids['Metformin']}", change, version=version).status_code
        == 200
    )

    # Back online: the queue goes out in order, once each; the change shows as changed since the last visit.
    context.set_offline(False)
    expect(page.locator("#connection")).to_have_text("Tilkoblet")
    expect(page.locator("#changes-section")).to_be_visible()
    expect(page.locator("#changes-list")).to_contain_text("Endret: Metformin tablett 500 mg")
    expect(page.locator(f'#entries article.changed[data-entry="{ids["Metformin"]}"]')).to_be_visible()
    expect(dose(page, ids["Terbinafin"], "morning").locator(".status")).to_have_text("Sendt")
    expect(dose(page, ids["Metformin"], "evening").locator(".status")).to_have_text(
        "Sendt – må vurderes av lege eller sykepleier"  # recorded against the version before the change
    )
    expect(page.locator("#patient-offline")).to_be_hidden()
    records = server_records(live_server.base_url, nurse_token, patient_id)
    assert sorted((r["entry_id"], r["outcome"], r["reason"]) for r in records) == sorted(
        [
            (ids["Metformin"], "given", None),
            (ids["Terbinafin"], "not_given", "refused"),
            (ids["Metformin"], "given", None),
        ]
    )
    assert len({(r["entry_id"], r["scheduled_at"]) for r in records}) == 3  # three doses, once each
    scroll_to(page, "patient-title")
    screenshot(page, "7-endret-siden-forrige-besok")
    scroll_to(page, "records-title")
    screenshot(page, "8-dagens-registreringer")

    # Sign-out leaves no patient data in IndexedDB, the caches or web storage.
    page.get_by_role("button", name="Logg ut", exact=True).click()
    expect(page.get_by_role("heading", name="Logg inn")).to_be_visible()
    expect(page.locator("#signin-notice")).to_contain_text("slettet fra telefonen")
    assert page.evaluate(FOUND_EVERYWHERE, patient_id) == []


def test_sign_out_with_unsent_records_asks_first(
    page: Any, context: Any, lists: ListClient, live_server: ServerProcess, nurse_token: str
) -> None:
    patient_id, ids = make_patient(lists)
    sign_in(page, nurse_token)
    open_patient(page, patient_id)
    context.set_offline(True)
    dose(page, ids["Amitriptylin"], "night").get_by_role("button", name=re.compile("^Gitt:")).click()
    page.get_by_role("button", name="Logg ut", exact=True).click()
    expect(page.locator("#sign-out-warning")).to_contain_text("1 registrering(er) er ikke sendt")
    page.get_by_role("button", name="Avbryt").click()
    expect(page.locator("#outbox-summary")).to_have_text("1 venter")
    page.get_by_role("button", name="Logg ut", exact=True).click()
    page.get_by_role("button", name="Logg ut og slett").click()
    expect(page.get_by_role("heading", name="Logg inn")).to_be_visible()
    assert page.evaluate(FOUND_EVERYWHERE, patient_id) == []
    context.set_offline(False)
    assert server_records(live_server.base_url, nurse_token, patient_id) == []


EXPIRE_SESSION = """async () => {
  const db = await new Promise((resolve) => {
    const request = indexedDB.open("pml-mobile");
    request.onsuccess = () => resolve(request.result);
  });
  const store = db.transaction("session", "readwrite").objectStore("session");
  await new Promise((resolve) => {
    store.get("current").onsuccess = (event) => {
      store.put({ ...event.target.result, expires_at: Date.now() - 1000 }, "current").onsuccess = resolve;
    };
  });
  db.close();
}"""


def test_after_expiry_the_same_nurse_keeps_her_shift_and_another_gets_a_clean_device(
    page: Any, lists: ListClient, nurse_token: str, server_settings: Settings
) -> None:
    patient_id, _ = make_patient(lists)
    sign_in(page, nurse_token)
    open_patient(page, patient_id)
    page.get_by_role("button", name="‹ Pasientsøk").click()
    for token, name, kept in (
        (nurse_token, "Kari Sykepleier", 1),
        (make_token(server_settings, OTHER_NURSE), "Ola Sykepleier", 0),
    ):
        page.evaluate(EXPIRE_SESSION)
        page.reload()
        expect(page.locator("#signin-notice")).to_contain_text("Økten er utløpt")
        page.get_by_label("Utviklingstoken").fill(token)
        page.get_by_role("button", name="Logg inn").click()
        expect(page.locator("#user-name")).to_have_text(name)  # signed in, the find screen rendered
        expect(page.get_by_role("heading", name="Finn pasient")).to_be_visible()
        expect(page.locator("#recent-patients li")).to_have_count(kept)
    assert page.evaluate(FOUND_EVERYWHERE, patient_id) == ["indexedDB pml-mobile/session: 1 rows"]


def test_a_refused_record_is_shown_not_dropped(
    page: Any, lists: ListClient, live_server: ServerProcess, nurse_token: str
) -> None:
    patient_id, ids = make_patient(lists)
    sign_in(page, nurse_token)
    open_patient(page, patient_id)
    # The service will refuse: the record names a list version the list never had.
    page.evaluate("""() => {
        const real = window.fetch;
        const stale = (init) => ({
            ...init, body: init.body.replace(/"list_version":\\d+/, '"list_version":999'),
        });
        window.fetch = (url, init) => real(url, init && init.method === 'POST' ? stale(init) : init);
    }""")
    card = dose(page, ids["Amitriptylin"], "night")
    card.get_by_role("button", name=re.compile("^Gitt:")).click()
    expect(card.locator(".status")).to_have_text("Avvist av tjenesten")
    expect(card).to_contain_text("version 999 was never seen")
    expect(card.get_by_role("button", name=re.compile("^Gitt:"))).to_be_visible()  # she can record again
    expect(page.locator("#outbox-summary")).to_have_text("1 avvist")
    assert server_records(live_server.base_url, nurse_token, patient_id) == []


def test_phone_size_zoom_touch_targets_labels_and_keyboard(
    page: Any, lists: ListClient, nurse_token: str
) -> None:
    patient_id, _ = make_patient(lists)
    page.goto("/app/")
    screenshot(page, "1-logg-inn")
    page.get_by_label("Utviklingstoken").fill(nurse_token)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the sign-in button, by keyboard
    expect(page.get_by_role("heading", name="Finn pasient")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.type(patient_id)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("^Pasient "))).to_be_focused()
    expect(page.locator("article.dose")).to_have_count(4)
    night = page.get_by_role("region", name="Natt").locator("article.dose")
    night.get_by_role("button", name=re.compile("^Gitt:")).focus()
    page.keyboard.press("Enter")  # one tap, by keyboard: focus lands on the record's status
    expect(night.locator(".status")).to_be_focused()
    expect(night.locator(".status")).to_have_text("Sendt")

    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => !el.labels.length && !el.getAttribute('aria-label')).map((el) => el.id || el.name)""")
    assert unlabelled == []
    small = page.evaluate("""() => [...document.querySelectorAll('button, input:not([type=radio]), select')]
        .filter((el) => el.offsetParent !== null)
        .map((el) => [el.textContent.trim() || el.id, el.getBoundingClientRect()])
        .filter(([, box]) => box.height < 44 || box.width < 44).map(([name]) => name)""")
    assert small == []
    # 200% zoom on a 360 px phone is a 180 CSS px wide viewport: it must reflow, never scroll sideways.
    page.set_viewport_size({"width": 180, "height": 390})
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0


def test_sign_in_with_oauth_code_and_pkce(
    page: Any, context: Any, live_server: ServerProcess, nurse_token: str
) -> None:
    """The configured path, against a stand-in issuer on the same origin: discovery, the authorization request
    with an S256 challenge, the code exchange with the verifier and no secret, then a signed-in nurse."""
    issuer = f"{live_server.base_url}/test-issuer"
    seen: dict[str, Any] = {}

    def config(route: Any) -> None:
        body = {
            "auth": {"mode": "oauth", "issuer": issuer, "client_id": "pml-mobile", "scope": "openid pml"},
            "api_base": "/v1",
            "time_zone": "Europe/Oslo",
            "retention_hours": 12,
            "environment": "test",
            "development_tokens": False,
        }
        route.fulfill(json=body)

    def discovery(route: Any) -> None:
        route.fulfill(
            json={
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/connect/authorize",
                "token_endpoint": f"{issuer}/connect/token",
            }
        )

    def authorize(route: Any) -> None:
        seen["authorize"] = dict(httpx.URL(route.request.url).params)
        state = seen["authorize"]["state"]
        route.fulfill(
            status=302, headers={"Location": f"{live_server.base_url}/app/?code=the-code&state={state}"}
        )

    def token(route: Any) -> None:
        seen["token"] = dict(httpx.QueryParams(route.request.post_data))
        route.fulfill(json={"access_token": nurse_token, "token_type": "Bearer", "expires_in": 3600})

    context.route("**/app/config.json", config)
    context.route("**/test-issuer/.well-known/openid-configuration", discovery)
    context.route("**/test-issuer/connect/authorize?*", authorize)
    context.route("**/test-issuer/connect/token", token)
    page.goto("/app/")
    assert (
        page.evaluate("async (v) => (await import('./js/pkce.js')).challengeFor(v)", RFC_7636_VERIFIER)
        == RFC_7636_CHALLENGE
    )
    page.get_by_role("button", name="Logg inn med HelseID").click()
    expect(page.get_by_role("heading", name="Finn pasient")).to_be_visible()
    assert page.url == f"{live_server.base_url}/app/"  # the code is gone from the address bar

    request, exchange = seen["authorize"], seen["token"]
    assert (request["response_type"], request["client_id"], request["code_challenge_method"]) == (
        "code",
        "pml-mobile",
        "S256",
    )
    assert request["redirect_uri"] == exchange["redirect_uri"] == f"{live_server.base_url}/app/"
    assert (exchange["grant_type"], exchange["code"]) == ("authorization_code", "the-code")
    assert "client_secret" not in exchange
    challenge = page.evaluate(
        "async (v) => (await import('./js/pkce.js')).challengeFor(v)", exchange["code_verifier"]
    )
    assert challenge == request["code_challenge"]
    assert json.loads(page.evaluate("() => JSON.stringify(sessionStorage)")) == {}
