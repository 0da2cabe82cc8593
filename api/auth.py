"""Bearer tokens in the style of HelseID: signature from the configured key set, issuer, audience, expiry and
not-before with a small clock skew. A refused token tells the caller why, never anything about the patient."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from pml.auth.tokens import (
    CLAIM_HPR,
    CLAIM_NAME,
    CLAIM_ORG,
    CLAIM_PID,
    CLAIM_ROLE,
    CLAIM_SOURCE,
    SIGNING_ALGORITHMS,
    load_development_key,
    public_jwks,
)
from pml.errors import DomainError
from pml.medication_list.schemas import Actor, Source
from pml.settings import Settings


class Role(StrEnum):
    PRESCRIBER = "prescriber"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    PATIENT = "patient"
    SYSTEM = "system"
    ADMIN = "admin"
    AUDITOR = "auditor"


class NotAuthenticated(DomainError):
    problem_type = "unauthorized"
    title = "Authentication required"
    status = 401


class Forbidden(DomainError):
    problem_type = "forbidden"
    title = "Not allowed"
    status = 403


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    actor: Actor
    role: Role
    scopes: frozenset[str]
    national_id: str | None
    source: Source | None


def load_key_set(settings: Settings) -> jwt.PyJWKSet:
    """The keys tokens may be signed with: the configured JWKS file, else the development key."""
    if settings.auth_jwks_file is not None:
        return jwt.PyJWKSet.from_dict(json.loads(settings.auth_jwks_file.read_text()))
    if settings.auth_jwks_url is not None:
        return jwt.PyJWKClient(settings.auth_jwks_url).get_jwk_set()
    key: ec.EllipticCurvePrivateKey = load_development_key(settings)
    return jwt.PyJWKSet.from_dict(public_jwks(key))


class TokenVerifier:
    """Verifies bearer tokens, and remembers verified ones until they expire: a token's signature and claims
    do not change, and a signature check costs more than the rest of a cached read."""

    def __init__(self, settings: Settings, key_set: jwt.PyJWKSet, *, remember: int = 10_000) -> None:
        self._settings = settings
        self._keys = {key.key_id: key for key in key_set.keys}
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._remember = remember

    def principal(self, authorization: str | None) -> Principal:
        token = _bearer_token(authorization)
        remembered = self._verified.get(token)
        if remembered is not None and time.time() < remembered[1] + self._settings.auth_clock_skew_seconds:
            return remembered[0]
        claims = self._verified_claims(token)
        principal = _principal_from_claims(claims)
        self._keep(token, principal, float(claims["exp"]))
        return principal

    def _keep(self, token: str, principal: Principal, expires_at: float) -> None:
        self._verified[token] = (principal, expires_at)
        while len(self._verified) > self._remember:
            self._verified.popitem(last=False)

    def _verified_claims(self, token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid) if kid else next(iter(self._keys.values()), None)
            if key is None:
                raise NotAuthenticated("the token is signed with a key this service does not know")
            return jwt.decode(
                token,
                key.key,
                algorithms=list(SIGNING_ALGORITHMS),
                audience=self._settings.auth_audience,
                issuer=self._settings.auth_issuer,
                leeway=self._settings.auth_clock_skew_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise NotAuthenticated("the token is not meant for this service (audience)") from None
        except jwt.InvalidIssuerError:
            raise NotAuthenticated("the token comes from an issuer this service does not trust") from None
        except jwt.ImmatureSignatureError:
            raise NotAuthenticated("the token is not valid yet") from None
        except jwt.PyJWTError:
            raise NotAuthenticated("the token could not be verified") from None


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise NotAuthenticated("send a bearer token in the Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _principal_from_claims(claims: dict[str, Any]) -> Principal:
    try:
        role = Role(claims[CLAIM_ROLE])
        source = Source(claims[CLAIM_SOURCE]) if claims.get(CLAIM_SOURCE) else None
        actor = Actor(
            subject=str(claims["sub"]),
            name=claims.get(CLAIM_NAME),
            hpr_number=claims.get(CLAIM_HPR),
            role=role.value,
            organisation=claims.get(CLAIM_ORG),
        )
    except (ValueError, KeyError):
        raise NotAuthenticated("the token lacks a valid role or identity claim") from None
    scopes = frozenset(str(claims.get("scope", "")).split())
    return Principal(actor, role, scopes, claims.get(CLAIM_PID), source)
