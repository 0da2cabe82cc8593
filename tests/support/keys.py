"""Signing keys for tests: the development EC key plus an RSA key, published together in one JWKS file,
as a HelseID-style issuer publishes several keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pml.auth.tokens import load_development_key, public_jwks
from pml.settings import Settings

RSA_KID = "test-rsa"


def rsa_key(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def write_test_jwks(settings: Settings, path: Path, rsa_private: rsa.RSAPrivateKey) -> None:
    keys: list[dict[str, Any]] = public_jwks(load_development_key(settings))["keys"]
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_private.public_key()))
    keys.append(rsa_jwk | {"kid": RSA_KID, "use": "sig", "alg": "RS256"})
    path.write_text(json.dumps({"keys": keys}))
