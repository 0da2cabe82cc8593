"""Which webhook URLs PML will call.

A webhook makes PML send requests where a subscriber says: without limits that is server-side request forgery
(SSRF) — a registered URL could point at the internal network (a database admin page, a cloud metadata
service at 169.254.169.254). So: only http and https, no credentials in the URL, no redirects followed, and
the host must be on `PML_EVENTS_WEBHOOK_ALLOWED_HOSTS` (exact names, or `*.example.no` for a domain's hosts).
Production requires https and a non-empty allow-list; development and test accept any host when the list is
empty. The URL is checked when registered and again before every delivery, so narrowing the list takes effect
at once. The allow-list is by name: production should also resolve and pin addresses, or send webhooks through
an egress proxy, to rule out DNS rebinding.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pml.events.errors import WebhookUrlRefused


def _host_allowed(host: str, allowed_hosts: list[str]) -> bool:
    for pattern in allowed_hosts:
        pattern = pattern.strip().lower()
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]:
            return True
        if host == pattern:
            return True
    return False


def check_webhook_url(url: str, *, allowed_hosts: list[str], production: bool) -> str:
    """The URL if PML may call it; WebhookUrlRefused (422) saying why otherwise."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise WebhookUrlRefused("the webhook URL is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlRefused("a webhook URL must be http or https")
    if production and parts.scheme != "https":
        raise WebhookUrlRefused("in production a webhook URL must be https")
    if parts.username or parts.password:
        raise WebhookUrlRefused("a webhook URL may not carry credentials; deliveries are signed instead")
    if not host:
        raise WebhookUrlRefused("a webhook URL needs a host")
    if allowed_hosts and not _host_allowed(host, allowed_hosts):
        raise WebhookUrlRefused(f"the host {host} is not on the webhook allow-list")
    if production and not allowed_hosts:
        raise WebhookUrlRefused("no webhook hosts are allowed: PML_EVENTS_WEBHOOK_ALLOWED_HOSTS is empty")
    return url
