"""Webhook signatures: `X-PML-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact body bytes with the
subscription's secret. Receivers compute the same over the raw body and compare in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-PML-Signature"
_PREFIX = "sha256="


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def signature(secret: str, body: bytes) -> str:
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(signature(secret, body), header)
