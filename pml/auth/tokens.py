"""Signing keys and development tokens.

Production verifies tokens from the configured HelseID key set (JWKS). For development and tests PML signs its
own tokens with a local ES256 key kept in the data directory; production settings refuse to load it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pml.settings import Settings

# Claim names follow HelseID where it has one, so a real HelseID token reads the same way.
CLAIM_HPR = "helseid://claims/hpr/hpr_number"
CLAIM_PID = "helseid://claims/identity/pid"
CLAIM_ORG = "helseid://claims/client/claims/orgnr_parent"
CLAIM_NAME = "name"
CLAIM_ROLE = "pml_role"
CLAIM_SOURCE = "pml_source"
DEVELOPMENT_KID = "pml-development"
SIGNING_ALGORITHMS = ("RS256", "ES256")


class DevelopmentKeyRefused(RuntimeError):
    """Raised when settings do not allow the development key (always so in production)."""


@dataclass(frozen=True, slots=True)
class DevelopmentClaims:
    subject: str
    role: str
    name: str | None = None
    hpr_number: str | None = None
    national_id: str | None = None
    organisation: str | None = None
    source: str | None = None
    scopes: tuple[str, ...] = ()


def development_key_path(settings: Settings) -> Path:
    return settings.data_dir / "development-signing-key.pem"


def load_development_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """The local development key, created on first use (readable by its owner only)."""
    if not settings.auth_allow_development_key:
        raise DevelopmentKeyRefused("these settings do not allow the development signing key")
    path = development_key_path(settings)
    if not path.exists():
        _write_new_key(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DevelopmentKeyRefused(f"{path} is not an EC private key")
    return key


def _write_new_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Write to a temporary name and rename, so two processes starting at once never read half a key.
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    if not path.exists():
        os.replace(temporary, path)
    else:
        temporary.unlink()


def public_jwks(key: ec.EllipticCurvePrivateKey, kid: str = DEVELOPMENT_KID) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {"keys": [jwk | {"kid": kid, "use": "sig", "alg": "ES256"}]}


def mint_token(
    key: ec.EllipticCurvePrivateKey,
    claims: DevelopmentClaims,
    *,
    settings: Settings,
    lifetime: dt.timedelta = dt.timedelta(hours=8),
    kid: str = DEVELOPMENT_KID,
) -> str:
    now = dt.datetime.now(dt.UTC)
    payload: dict[str, Any] = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": claims.subject,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
        CLAIM_ROLE: claims.role,
        "scope": " ".join(claims.scopes),
    }
    optional = {
        CLAIM_NAME: claims.name,
        CLAIM_HPR: claims.hpr_number,
        CLAIM_PID: claims.national_id,
        CLAIM_ORG: claims.organisation,
        CLAIM_SOURCE: claims.source,
    }
    payload |= {name: value for name, value in optional.items() if value is not None}
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid})
