"""Dependencies shared by the routes, as `Annotated` aliases. Everything comes from the app's state, which the
lifespan fills; tests and alternative deployments override them there."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request

from api.auth import Principal, TokenVerifier
from pml.db.engine import Database
from pml.errors import InvalidPatientId
from pml.national_id import InvalidNationalId, parse_national_id
from pml.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_principal(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> Principal:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.principal(authorization)


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def valid_patient_id(
    settings: SettingsDep,
    patient_id: Annotated[str, Path(description="fødselsnummer, D-number or H-number (11 digits)")],
) -> str:
    try:
        return parse_national_id(patient_id, allow_synthetic=settings.allow_synthetic_national_ids).value
    except InvalidNationalId as error:
        raise InvalidPatientId(f"the patient id is not a valid national id: {error}") from None


PatientId = Annotated[str, Depends(valid_patient_id)]
