"""Webhook URLs PML will call (SSRF), signatures and retry delays."""

from __future__ import annotations

import datetime as dt

import pytest

from pml.events.errors import WebhookUrlRefused
from pml.events.signing import signature, verify
from pml.events.urls import check_webhook_url
from pml.events.webhooks import MAX_BACKOFF, backoff


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.no/hook",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "javascript:alert(1)",
        "https://user:secret@hooks.example.no/x",
        "https:///no-host",
        "http://hooks.example.no:99999/x",
    ],
)
def test_only_plain_http_and_https_urls_are_accepted(url: str) -> None:
    with pytest.raises(WebhookUrlRefused):
        check_webhook_url(url, allowed_hosts=[], production=False)


def test_the_allow_list_holds_exact_hosts_and_subdomain_patterns() -> None:
    allowed = ["hooks.example.no", "*.akson.no"]
    for url in ("https://hooks.example.no/a", "https://journal.akson.no/pml", "https://a.b.akson.no/"):
        assert check_webhook_url(url, allowed_hosts=allowed, production=False) == url
    for url in (
        "https://akson.no/",
        "https://evilakson.no/",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:5432/",
        "https://hooks.example.no.evil.com/",
    ):
        with pytest.raises(WebhookUrlRefused, match="allow-list"):
            check_webhook_url(url, allowed_hosts=allowed, production=False)


def test_production_requires_https_and_an_allow_list() -> None:
    with pytest.raises(WebhookUrlRefused, match="https"):
        check_webhook_url("http://hooks.example.no/", allowed_hosts=["hooks.example.no"], production=True)
    with pytest.raises(WebhookUrlRefused, match="PML_EVENTS_WEBHOOK_ALLOWED_HOSTS"):
        check_webhook_url("https://hooks.example.no/", allowed_hosts=[], production=True)
    assert check_webhook_url("https://hooks.example.no/", allowed_hosts=["hooks.example.no"], production=True)


def test_a_signature_is_the_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"event_id":"1","version":3}'
    # echo -n '{"event_id":"1","version":3}' | openssl dgst -sha256 -hmac hemmelig
    assert (
        signature("hemmelig", body)
        == "sha256=c6011d92a7d2be91ff8cc45a3b2ae7642ecd45c38e477a04c613ccadbd8ff8e1"
    )
    assert verify("hemmelig", body, signature("hemmelig", body))
    assert not verify("hemmelig", body + b" ", signature("hemmelig", body))
    assert not verify("annen", body, signature("hemmelig", body))
    assert not verify("hemmelig", body, None)


def test_retries_back_off_exponentially_up_to_an_hour() -> None:
    delays = [backoff(attempt, 5.0) for attempt in range(1, 6)]
    for attempt, delay in enumerate(delays, start=1):
        nominal = 5.0 * 2 ** (attempt - 1)
        assert dt.timedelta(seconds=nominal * 0.8) <= delay <= dt.timedelta(seconds=nominal * 1.2)
    assert backoff(30, 5.0) == MAX_BACKOFF
