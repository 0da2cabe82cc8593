"""Administration records: what a nurse did about one dose, and how records about one dose chain together."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from pml.medication_list.schemas import Actor, Amount, LongText, ShortText


class Outcome(StrEnum):
    GIVEN = "given"
    PARTLY_GIVEN = "partly_given"
    NOT_GIVEN = "not_given"
    # Only as a correction: the corrected record should not have been made (wrong medicine, wrong patient).
    ENTERED_IN_ERROR = "entered_in_error"


class NotGivenReason(StrEnum):
    REFUSED = "refused"  # pasienten nektet
    NOT_AT_HOME = "not_at_home"  # ikke hjemme
    CLINICAL_HOLD = "clinical_hold"  # holdt tilbake av faglige grunner
    MEDICINE_MISSING = "medicine_missing"  # legemiddelet mangler


class ReviewReason(StrEnum):
    """Why a stored record waits for a clinician's review. The record is kept either way: it happened."""

    ENTRY_CHANGED = "entry-changed"  # changed after the list version the nurse saw
    ENTRY_PAUSED = "entry-paused"
    ENTRY_STOPPED = "entry-stopped"
    NOT_A_SCHEDULED_TIME = "not-a-scheduled-time"  # the entry has no dose at scheduled_at
    NOT_AS_NEEDED = "not-as-needed"  # an unscheduled dose of an entry without a ved behov dosage
    ABOVE_DAILY_MAXIMUM = "above-daily-maximum"  # as-needed doses given today exceed max_per_day


class NewAdministration(BaseModel):
    """One tap on the nurse's phone. `scheduled_at` names a dose of the plan exactly as `/doses` gave it;
    leave it out for an as-needed dose. `list_version` is the version of the list the nurse was looking at."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entry_id: uuid.UUID
    scheduled_at: AwareDatetime | None = None
    outcome: Outcome
    amount: Amount | None = Field(default=None, description="required when partly given; default: as planned")
    unit: ShortText | None = None
    reason: NotGivenReason | None = Field(default=None, description="required when not given")
    note: LongText | None = None
    occurred_at: AwareDatetime = Field(description="when it happened, which may be long before it was sent")
    list_version: int = Field(ge=0, description="the list version the nurse saw")
    corrects: uuid.UUID | None = Field(default=None, description="the record this one corrects")

    @model_validator(mode="after")
    def _outcome_has_what_it_needs(self) -> NewAdministration:
        if (self.outcome is Outcome.NOT_GIVEN) != (self.reason is not None):
            raise ValueError("give a reason exactly when the outcome is not_given")
        if self.outcome is Outcome.PARTLY_GIVEN and self.amount is None:
            raise ValueError("say how much was given (amount) when it was partly given")
        if self.outcome in (Outcome.NOT_GIVEN, Outcome.ENTERED_IN_ERROR) and self.amount is not None:
            raise ValueError(f"an amount makes no sense when the outcome is {self.outcome.value}")
        if self.outcome is Outcome.ENTERED_IN_ERROR and self.corrects is None:
            raise ValueError("entered_in_error is only a correction of an earlier record ('corrects')")
        return self


class EntrySnapshot(BaseModel):
    """The entry as the list held it when the record was made."""

    model_config = ConfigDict(frozen=True)

    display_name: str
    strength: str | None
    dose_text: str | None
    status: str
    updated_version: int


class AdministrationRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    record_id: uuid.UUID
    patient_id: str
    entry_id: uuid.UUID
    scheduled_at: dt.datetime | None
    dose_at: dt.datetime = Field(description="the dose's time: scheduled_at, or occurred_at when unscheduled")
    outcome: Outcome
    amount: Decimal | None
    unit: str | None
    reason: NotGivenReason | None
    note: str | None
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    recorded_by: Actor
    list_version: int
    corrects: uuid.UUID | None
    flagged_for_review: bool
    review_reasons: list[ReviewReason]
    entry: EntrySnapshot


class AdministrationChain(BaseModel):
    """The records about one dose: the first record, each correction of it, oldest first. The last one is the
    effective record."""

    model_config = ConfigDict(frozen=True)

    effective: AdministrationRecord
    records: list[AdministrationRecord]
    corrected: bool = Field(description="true when the first record has been corrected")


class AdministrationDay(BaseModel):
    model_config = ConfigDict(frozen=True)

    patient_id: str
    date: dt.date
    time_zone: str
    chains: list[AdministrationChain] = Field(description="by the effective record's dose time")
