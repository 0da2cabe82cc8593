"""Change events end to end over real HTTP and real processes: a system registers a webhook through the API,
list changes written through /v1 travel outbox → Redis Stream → `pml relay` → the webhook, signed, in order
per patient; a failing receiver is retried with backoff, dead-lettered (visible through the API) and can be
retried; unregistering stops deliveries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pml.auth.tokens import DevelopmentClaims
from pml.events.signing import verify
from pml.settings import Settings
from tests.conftest import server_env
from tests.pml.events.relay_support import RelayProcess, WebhookReceiver, stream_entries, wait_for
from tests.support.catalogue import query
from tests.support.client import ListClient, make_token
from tests.support.factories import entry_body, new_patient_id
from tests.support.servers import ServerProcess

SHARDS = 16  # the default: the API server and the relay agree without configuring it
SUBSCRIBE = "events:subscribe"
SUBSCRIPTIONS = "/v1/event-subscriptions"


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def relay(
    server_settings: Settings, database_url: str, redis_url: str, work_dir: Path
) -> Iterator[RelayProcess]:
    """`pml relay` on the live server's database: three tries, a fast first retry."""
    env = server_env(
        server_settings,
        PML_REDIS_URL=redis_url,
        PML_EVENTS_WEBHOOK_MAX_ATTEMPTS="3",
        PML_EVENTS_WEBHOOK_BACKOFF_SECONDS="0.1",
    )
    process = RelayProcess(env, work_dir / "relay-events.log", consumer="events-test").start()
    yield process
    process.stop()


def _system(live_server: ServerProcess, settings: Settings, *scopes: str) -> httpx.Client:
    claims = DevelopmentClaims(
        subject=f"system-{uuid.uuid4().hex[:8]}",
        role="system",
        name="Journal",
        organisation="974703300",
        scopes=scopes,
    )
    token = make_token(settings, claims)
    return httpx.Client(
        base_url=live_server.base_url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    )


@pytest.fixture
def subscriber(live_server: ServerProcess, server_settings: Settings) -> Iterator[httpx.Client]:
    client = _system(live_server, server_settings, SUBSCRIBE)
    yield client
    client.close()


def _subscribe(subscriber: httpx.Client, url: str, *patients: str) -> dict[str, Any]:
    response = subscriber.post(
        SUBSCRIPTIONS, json={"url": url, "description": "test", "patient_ids": list(patients)}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _write_changes(lists: ListClient, patient_id: str, count: int) -> None:
    entry_id = lists.add(patient_id, entry_body(), version=0).json()["entry"]["id"]
    for version in range(1, count):
        response = lists.write(
            "PATCH", patient_id, f"/entries/{entry_id}", {"note": f"v{version + 1}"}, version=version
        )
        assert response.status_code == 200, response.text


# -- registration --------------------------------------------------------------------------------------------


def test_only_a_system_with_the_scope_may_subscribe(
    live_server: ServerProcess, server_settings: Settings, lists: ListClient, subscriber: httpx.Client
) -> None:
    body = {"url": "https://hooks.example.no/pml"}
    prescriber = lists.http.post("/v1/event-subscriptions", json=body)
    assert prescriber.status_code == 403
    with _system(live_server, server_settings) as unscoped:
        assert unscoped.post(SUBSCRIPTIONS, json=body).status_code == 403
    created = subscriber.post(SUBSCRIPTIONS, json=body)
    assert created.status_code == 201
    assert created.headers["location"].endswith(created.json()["id"])
    assert len(created.json()["secret"]) >= 32
    listed = subscriber.get(SUBSCRIPTIONS).json()["subscriptions"]
    assert [s["id"] for s in listed] == [created.json()["id"]]
    assert "secret" not in listed[0]  # shown once only
    assert subscriber.delete(f"{SUBSCRIPTIONS}/{created.json()['id']}").status_code == 204


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.no/x",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_",
        "https://u:p@example.no/",
    ],
)
def test_non_http_webhook_urls_are_refused(subscriber: httpx.Client, url: str) -> None:
    response = subscriber.post(SUBSCRIPTIONS, json={"url": url})
    assert response.status_code == 422
    assert response.json()["type"].endswith("/webhook-url-refused")


# -- delivery ------------------------------------------------------------------------------------------------


def test_changes_reach_the_webhook_signed_and_in_order_per_patient(
    relay: RelayProcess,
    receiver: WebhookReceiver,
    subscriber: httpx.Client,
    lists: ListClient,
    redis_url: str,
    database_url: str,
) -> None:
    first, second, other = new_patient_id(), new_patient_id(), new_patient_id()
    subscription = _subscribe(subscriber, receiver.url("/signed"), first, second)
    _write_changes(lists, first, 3)
    _write_changes(lists, second, 2)
    _write_changes(lists, other, 1)
    wait_for(lambda: len(receiver.delivered("/signed")) == 5, what="five deliveries")
    delivered = receiver.delivered("/signed")
    for request in delivered:
        assert verify(subscription["secret"], request.body, request.headers["X-PML-Signature"])
        assert request.headers["X-PML-Event-Id"] == request.event["event_id"]
    by_patient: dict[str, list[int]] = {}
    for request in delivered:
        by_patient.setdefault(request.event["patient_id"], []).append(request.event["version"])
    assert by_patient == {first: [1, 2, 3], second: [1, 2]}
    event = delivered[0].event
    assert event["type"] == "medication-list.changed"
    assert event["changes_path"] == f"/v1/patients/{event['patient_id']}/medication-list/changes?since=0"
    streamed = [f for f in stream_entries(redis_url, SHARDS) if f["patient_id"] == first]
    assert [int(f["version"]) for f in streamed] == [1, 2, 3]
    audited = "SELECT count(*) FROM audit_record WHERE patient_id = %s AND action = 'event_webhook_delivered'"
    wait_for(lambda: query(database_url, audited, first) == [(3,)], what="an audit record per delivery")


def test_a_failing_receiver_is_retried_then_dead_lettered_and_can_be_retried(
    relay: RelayProcess, receiver: WebhookReceiver, subscriber: httpx.Client, lists: ListClient
) -> None:
    patient_id = new_patient_id()
    receiver.plans["/down"] = [500, 502, 503]
    subscription = _subscribe(subscriber, receiver.url("/down"), patient_id)
    _write_changes(lists, patient_id, 1)
    dead_letters = f"{SUBSCRIPTIONS}/{subscription['id']}/deliveries"

    def dead() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = subscriber.get(dead_letters, params={"status": "dead"}).json()[
            "deliveries"
        ]
        return found

    wait_for(lambda: len(dead()) == 1, what="the delivery to be dead-lettered")
    (letter,) = dead()
    assert (letter["attempts"], letter["last_status_code"], letter["version"]) == (3, 503, 1)
    assert receiver.delivered("/down") == []
    retried = subscriber.post(f"{dead_letters}/{letter['id']}/retry")
    assert retried.status_code == 200
    assert retried.json()["status"] == "pending"
    wait_for(lambda: len(receiver.delivered("/down")) == 1, what="the retried delivery")

    def delivered() -> list[str]:
        found = subscriber.get(dead_letters, params={"status": "delivered"}).json()["deliveries"]
        return [d["id"] for d in found]

    wait_for(lambda: delivered() == [letter["id"]], what="the delivery to be recorded as delivered")


def test_a_later_event_waits_while_an_earlier_one_is_retried(
    relay: RelayProcess, receiver: WebhookReceiver, subscriber: httpx.Client, lists: ListClient
) -> None:
    patient_id = new_patient_id()
    receiver.plans["/ordered"] = [503, 503]  # the first event fails twice, then gets through
    _subscribe(subscriber, receiver.url("/ordered"), patient_id)
    _write_changes(lists, patient_id, 3)
    wait_for(lambda: len(receiver.delivered("/ordered")) == 3, what="three deliveries")
    assert [r.event["version"] for r in receiver.delivered("/ordered")] == [1, 2, 3]


def test_an_unregistered_subscription_gets_nothing_more(
    relay: RelayProcess,
    receiver: WebhookReceiver,
    subscriber: httpx.Client,
    lists: ListClient,
    database_url: str,
) -> None:
    patient_id = new_patient_id()
    subscription = _subscribe(subscriber, receiver.url("/gone"), patient_id)
    assert subscriber.delete(f"{SUBSCRIPTIONS}/{subscription['id']}").status_code == 204
    assert subscriber.get(f"{SUBSCRIPTIONS}/{subscription['id']}").json()["active"] is False
    _write_changes(lists, patient_id, 1)
    published = "SELECT published_at IS NOT NULL FROM event_outbox WHERE patient_id = %s"
    wait_for(
        lambda: query(database_url, published, patient_id) == [(True,)], what="the event to be published"
    )
    other = _subscribe(subscriber, receiver.url("/still-here"), patient_id)  # a later event still flows
    _write_changes_again(lists, patient_id)
    wait_for(lambda: len(receiver.delivered("/still-here")) == 1, what="the other subscription's delivery")
    assert receiver.delivered("/gone") == []
    assert other["active"] is True


def _write_changes_again(lists: ListClient, patient_id: str) -> None:
    assert lists.write("POST", patient_id, "/review", {}, version=1).status_code == 200
