from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


class AuditEvent(BaseModel):
    """One access to one patient's data, as the API saw it."""

    model_config = ConfigDict(frozen=True)

    patient_id: str
    actor_subject: str
    actor_name: str | None
    actor_hpr: str | None
    role: str
    organisation: str | None
    action: str
    purpose: str | None
    emergency: bool
    emergency_reason: str | None
    outcome: Outcome
    status_code: int
    request_id: str | None


class AuditRecord(AuditEvent):
    audit_id: uuid.UUID
    recorded_at: dt.datetime


class AuditPage(BaseModel):
    records: list[AuditRecord]
    next_before: dt.datetime | None


class PurposeOfUse(StrEnum):
    """HL7 v3 PurposeOfUse codes a caller states for each access (header X-PML-Purpose)."""

    TREAT = "TREAT"  # treatment
    ETREAT = "ETREAT"  # emergency treatment
    COC = "COC"  # coordination of care
    CAREMGT = "CAREMGT"  # care management
    PATRQT = "PATRQT"  # the patient's own request
    HOPERAT = "HOPERAT"  # healthcare operations (e.g. dispensing)
    PUBHLTH = "PUBHLTH"  # public health
