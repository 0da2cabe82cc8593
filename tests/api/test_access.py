"""Who may see what: tokens, roles per endpoint family, blocks, emergency access, and the audit record each
call leaves behind."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest

from pml.auth.tokens import (
    CLAIM_HPR,
    CLAIM_ORG,
    CLAIM_ROLE,
    DevelopmentClaims,
    load_development_key,
)
from pml.settings import Settings
from tests.support.client import ListClient, make_token
from tests.support.factories import entry_body, new_patient_id
from tests.support.keys import RSA_KID, rsa_key
from tests.support.servers import ServerProcess

HPR = "9144889"
ORG = "974703300"


@dataclass
class Caller:
    """One authenticated caller with a subject no other test uses, so its audit trail is its own."""

    client: ListClient
    subject: str


@pytest.fixture
def caller(live_server: ServerProcess, server_settings: Settings) -> Iterator[Callable[..., Caller]]:
    opened: list[ListClient] = []

    def make(role: str, **claims: Any) -> Caller:
        subject = f"{role}-{uuid.uuid4().hex[:8]}"
        token = make_token(server_settings, DevelopmentClaims(subject=subject, role=role, **claims))
        client = ListClient(live_server.base_url, token, purpose="PATRQT" if role == "patient" else "TREAT")
        opened.append(client)
        return Caller(client, subject)

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def auditor(caller: Callable[..., Caller]) -> ListClient:
    return caller("auditor").client


def audit_trail(auditor: ListClient, subject: str) -> list[dict[str, Any]]:
    response = auditor.http.get("/v1/audit/records", params={"actor": subject})
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return list(reversed(records))  # oldest first


def raw_token(settings: Settings, *, key: Any = None, algorithm: str = "ES256", kid: str = "pml-development",
              **overrides: Any) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "iss": settings.auth_issuer, "aud": settings.auth_audience, "sub": "token-test", "iat": now,
        "nbf": now, "exp": now + dt.timedelta(minutes=5), CLAIM_ROLE: "prescriber", CLAIM_HPR: HPR,
        CLAIM_ORG: ORG, "pml_source": "gp",
    } | overrides
    claims = {name: value for name, value in claims.items() if value is not None}
    signing_key = key if key is not None else load_development_key(settings)
    return jwt.encode(claims, signing_key, algorithm=algorithm, headers={"kid": kid})


def get_list(base_url: str, patient_id: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{base_url}/v1/patients/{patient_id}/medication-list",
        headers={"Authorization": f"Bearer {token}", "X-PML-Purpose": "TREAT"},
    )


# -- tokens ------------------------------------------------------------------------------------------------


def test_an_rs256_token_from_the_key_set_is_accepted(live_server: ServerProcess, server_settings: Settings,
                                                     work_dir: Path) -> None:
    token = raw_token(server_settings, key=rsa_key(work_dir / "rsa.pem"), algorithm="RS256", kid=RSA_KID)
    assert get_list(live_server.base_url, new_patient_id(), token).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"exp": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)}, "expired"),
        ({"nbf": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)}, "not valid yet"),
        ({"aud": "some-other-service"}, "audience"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({CLAIM_ROLE: "janitor"}, "role"),
        ({"exp": None}, "could not be verified"),
    ],
)
def test_a_token_with_bad_claims_is_401_and_reveals_nothing(
    live_server: ServerProcess, server_settings: Settings, overrides: dict[str, Any], detail: str
) -> None:
    patient_id = new_patient_id()
    response = get_list(live_server.base_url, patient_id, raw_token(server_settings, **overrides))
    assert response.status_code == 401
    assert detail in response.json()["detail"]
    assert patient_id not in response.text
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_small_clock_skew_is_tolerated(live_server: ServerProcess, server_settings: Settings) -> None:
    just_expired = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    response = get_list(live_server.base_url, new_patient_id(), raw_token(server_settings, exp=just_expired))
    assert response.status_code == 200


def test_tokens_signed_by_unknown_keys_or_algorithms_are_401(
    live_server: ServerProcess, server_settings: Settings, work_dir: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = [
        raw_token(server_settings, key=stranger),  # right kid, wrong key
        raw_token(server_settings, key=stranger, kid="unknown-kid"),
        raw_token(server_settings, key="", algorithm="none"),
        _hmac_signed_with_public_key(server_settings, work_dir),
    ]
    for token in forged:
        assert get_list(live_server.base_url, new_patient_id(), token).status_code == 401


def _hmac_signed_with_public_key(settings: Settings, work_dir: Path) -> str:
    """Algorithm confusion: an HS256 token keyed with the published RSA public key must never verify."""
    import base64
    import hashlib
    import hmac
    import json

    from cryptography.hazmat.primitives import serialization

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    public_pem = rsa_key(work_dir / "rsa.pem").public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": RSA_KID}).encode())
    claims = jwt.decode(raw_token(settings), options={"verify_signature": False})
    payload = b64(json.dumps(claims).encode())
    signature = b64(hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest())
    return (header + b"." + payload + b"." + signature).decode()


# -- roles × endpoint families -----------------------------------------------------------------------------

# family -> (the route name the audit record names as action, the call given client, patient and version)
FAMILIES: dict[str, tuple[str, Callable[[ListClient, str, int], httpx.Response]]] = {
    "read": ("read_list", lambda c, p, v: c.read(p)),
    "history": ("read_history", lambda c, p, v: c.http.get(c.path(p, "/history"))),
    "write": ("add_entry", lambda c, p, v: c.add(p, entry_body(), version=v)),
    "review": ("mark_reviewed", lambda c, p, v: c.write("POST", p, "/review", {"source": "gp"}, version=v)),
    "blocks": ("list_blocks", lambda c, p, v: c.http.get(f"/v1/patients/{p}/blocks")),
    "access-log": ("read_own_access_log", lambda c, p, v: c.http.get(f"/v1/patients/{p}/access-log")),
}

ALLOWED: dict[str, set[str]] = {
    "prescriber": {"read", "history", "write", "review"},
    "nurse": {"read", "history"},
    "pharmacist": {"read", "history"},
    "patient-own": {"read", "history", "blocks", "access-log"},
    "patient-other": set(),
    "system-scoped": {"read", "history", "write"},
    "system-unscoped": set(),
    "admin": set(),
    "auditor": set(),
}


def _caller_for(kind: str, caller: Callable[..., Caller], patient_id: str) -> Caller:
    clinician = {"hpr_number": HPR, "organisation": ORG, "source": "gp"}
    return {
        "prescriber": lambda: caller("prescriber", **clinician),
        "nurse": lambda: caller("nurse", **clinician | {"source": "home_care"}),
        "pharmacist": lambda: caller("pharmacist", **clinician | {"source": "pharmacy"}),
        "patient-own": lambda: caller("patient", national_id=patient_id),
        "patient-other": lambda: caller("patient", national_id=new_patient_id()),
        "system-scoped": lambda: caller("system", source="gp", scopes=("list:read", "list:write")),
        "system-unscoped": lambda: caller("system", source="gp", scopes=("something:else",)),
        "admin": lambda: caller("admin"),
        "auditor": lambda: caller("auditor"),
    }[kind]()


@pytest.mark.parametrize("kind", list(ALLOWED))
def test_each_role_gets_exactly_its_endpoint_families_and_each_call_is_audited(
    kind: str, caller: Callable[..., Caller], auditor: ListClient, lists: ListClient
) -> None:
    patient_id = new_patient_id()
    assert lists.add(patient_id, entry_body(), version=0).status_code == 201
    who = _caller_for(kind, caller, patient_id)
    expected = []
    for family, (action, call) in FAMILIES.items():
        # The version comes from another caller, so this caller makes exactly one call per family.
        response = call(who.client, patient_id, lists.version(patient_id))
        allowed = family in ALLOWED[kind]
        assert response.status_code in ((200, 201) if allowed else (403,)), (kind, family, response.text)
        if not allowed:
            assert response.json()["type"].endswith("/forbidden")
        expected.append((action, "success" if allowed else "denied"))
    trail = audit_trail(auditor, who.subject)
    assert [(r["action"], r["outcome"]) for r in trail] == expected
    for record in trail:
        assert record["patient_id"] == patient_id
        assert record["role"] == who.subject.split("-")[0]
        assert record["purpose"] == ("PATRQT" if kind.startswith("patient") else "TREAT")
        assert record["emergency"] is False
        assert record["request_id"]


# -- blocks and emergency access ---------------------------------------------------------------------------


def test_a_blocked_clinician_is_refused_unless_emergency_access_is_stated(
    caller: Callable[..., Caller], auditor: ListClient, lists: ListClient
) -> None:
    patient_id = new_patient_id()
    assert lists.add(patient_id, entry_body(), version=0).status_code == 201
    patient = caller("patient", national_id=patient_id).client
    block = patient.http.post(
        f"/v1/patients/{patient_id}/blocks", json={"kind": "clinician", "value": "1234567"}
    )
    assert block.status_code == 201, block.text

    blocked = caller("prescriber", hpr_number="1234567", organisation=ORG, source="gp")
    other = caller("prescriber", hpr_number="7654321", organisation=ORG, source="gp")
    refused = blocked.client.read(patient_id)
    assert refused.status_code == 403
    assert "blocked" in refused.json()["detail"]
    assert other.client.read(patient_id).status_code == 200

    too_short = blocked.client.read(patient_id, **{"X-PML-Emergency-Access": "akutt"})
    assert too_short.status_code == 422
    reason = "Bevisstløs pasient i akuttmottak, trenger legemiddelliste"
    headers = {"X-PML-Emergency-Access": quote(reason), "X-PML-Purpose": "ETREAT"}
    emergency = blocked.client.read(patient_id, **headers)
    assert emergency.status_code == 200

    trail = audit_trail(auditor, blocked.subject)
    # The refused attempt with too short a reason is still logged as an attempted emergency access.
    assert [(r["outcome"], r["emergency"]) for r in trail] == [
        ("denied", False), ("failed", True), ("success", True)
    ]
    assert trail[-1]["emergency_reason"] == reason
    assert trail[-1]["purpose"] == "ETREAT"

    # The patient sees the emergency access in their own access log.
    log = patient.http.get(f"/v1/patients/{patient_id}/access-log").json()["records"]
    assert any(r["actor_subject"] == blocked.subject and r["emergency"] for r in log)


def test_an_organisation_block_covers_everyone_there_until_lifted(
    caller: Callable[..., Caller], lists: ListClient
) -> None:
    patient_id = new_patient_id()
    patient = caller("patient", national_id=patient_id).client
    created = patient.http.post(
        f"/v1/patients/{patient_id}/blocks", json={"kind": "organisation", "value": "987654321"}
    ).json()
    nurse = caller("nurse", hpr_number="1111111", organisation="987654321", source="home_care").client
    assert nurse.read(patient_id).status_code == 403
    assert patient.http.delete(f"/v1/patients/{patient_id}/blocks/{created['id']}").status_code == 204
    assert nurse.read(patient_id).status_code == 200
    assert patient.http.delete(f"/v1/patients/{patient_id}/blocks/{created['id']}").status_code == 404


def test_a_clinician_without_a_purpose_of_use_is_refused(caller: Callable[..., Caller]) -> None:
    prescriber = caller("prescriber", hpr_number=HPR, organisation=ORG, source="gp").client
    response = prescriber.http.get(prescriber.path(new_patient_id()), headers={"X-PML-Purpose": ""})
    assert response.status_code == 422
    del prescriber.http.headers["X-PML-Purpose"]
    response = prescriber.read(new_patient_id())
    assert response.status_code == 422
    assert "X-PML-Purpose" in response.json()["detail"]


def test_the_auditor_queries_by_patient_and_the_patient_reads_only_their_own_log(
    caller: Callable[..., Caller], auditor: ListClient, lists: ListClient
) -> None:
    patient_id = new_patient_id()
    lists.read(patient_id)
    by_patient = auditor.http.get("/v1/audit/records", params={"patient_id": patient_id}).json()["records"]
    assert [r["action"] for r in by_patient] == ["read_list"]
    assert auditor.http.get("/v1/audit/records").status_code == 422
    assert lists.http.get("/v1/audit/records", params={"patient_id": patient_id}).status_code == 403
    other_patient = caller("patient", national_id=new_patient_id()).client
    assert other_patient.http.get(f"/v1/patients/{patient_id}/access-log").status_code == 403


def test_an_emergency_reason_that_is_not_utf8_is_422(caller: Callable[..., Caller]) -> None:
    prescriber = caller("prescriber", hpr_number=HPR, organisation=ORG, source="gp").client
    response = prescriber.read(new_patient_id(), **{"X-PML-Emergency-Access": "%ff%fe" * 10})
    assert response.status_code == 422
    assert "percent-encoded" in response.json()["detail"]
