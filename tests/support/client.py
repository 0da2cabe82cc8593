"""A thin HTTP client for tests: real requests, with a token and the list's conditional headers."""

from __future__ import annotations

from typing import Any

import httpx

from pml.auth.tokens import DevelopmentClaims, load_development_key, mint_token
from pml.settings import Settings

PRESCRIBER = DevelopmentClaims(
    subject="test-prescriber", role="prescriber", name="Test Lege", hpr_number="9144889",
    organisation="974703300", source="gp",
)


def make_token(settings: Settings, claims: DevelopmentClaims = PRESCRIBER) -> str:
    return mint_token(load_development_key(settings), claims, settings=settings)


class ListClient:
    """Reads and writes one server's medication lists as one caller."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10, purpose: str = "TREAT") -> None:
        headers = {"Authorization": f"Bearer {token}", "X-PML-Purpose": purpose}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def path(patient_id: str, suffix: str = "") -> str:
        return f"/v1/patients/{patient_id}/medication-list{suffix}"

    def read(self, patient_id: str, **headers: str) -> httpx.Response:
        return self.http.get(self.path(patient_id), headers=headers)

    def version(self, patient_id: str) -> int:
        response = self.read(patient_id)
        assert response.status_code == 200, response.text
        version: int = response.json()["version"]
        return version

    def write(
        self, method: str, patient_id: str, suffix: str, body: Any, *, version: int | None,
        key: str | None = None,
    ) -> httpx.Response:
        headers = {}
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.http.request(method, self.path(patient_id, suffix), json=body, headers=headers)

    def add(
        self, patient_id: str, body: dict[str, Any], *, version: int, key: str | None = None
    ) -> httpx.Response:
        return self.write("POST", patient_id, "/entries", body, version=version, key=key)
