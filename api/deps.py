"""Dependencies shared by the routes, as `Annotated` aliases. Everything comes from the app's state, which the
lifespan fills; tests and alternative deployments override them there."""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import Depends, Header, Request

from api.auth import Principal, TokenVerifier
from api.ratelimit import RateLimiter
from pml.db.engine import Database
from pml.errors import InvalidPatientId
from pml.national_id import InvalidNationalId, parse_national_id
from pml.settings import Settings

# Dependencies are `async def` even when they await nothing: FastAPI runs a plain `def` dependency in its
# threadpool, a thread hand-off per request for work that takes microseconds.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_principal(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> Principal:
    """The verified caller, counted against its rate limit."""
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.principal(authorization)
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.check(principal.actor.subject)
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def checked_patient_id(patient_id: str, settings: Settings) -> str:
    """The national id if valid; a 422 problem otherwise (it is never stored or looked up)."""
    try:
        return _valid_national_id(patient_id, settings.allow_synthetic_national_ids)
    except InvalidNationalId as error:
        raise InvalidPatientId(f"the patient id is not a valid national id: {error}") from None


@functools.lru_cache(maxsize=16_384)
def _valid_national_id(patient_id: str, allow_synthetic: bool) -> str:
    """Remembers recent valid ids: every patient request checks one, and the same patients' lists are read
    over and over (the check digits and birth date were a few percent of a cached read). Invalid ids raise,
    so they are never remembered."""
    return parse_national_id(patient_id, allow_synthetic=allow_synthetic).value


# How api.openapi documents the path's patient for the routes api.access.patient_access serves.
PATIENT_ID_DESCRIPTION = "fødselsnummer, D-number or H-number (11 digits)"
