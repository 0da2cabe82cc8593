"""The medication list's domain types, shared by the service and the API.

Input models refuse unknown fields: a misspelt field name must not be silently dropped from a patient's list.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=2000)]
Amount = Annotated[Decimal, Field(gt=0, le=100000, max_digits=12, decimal_places=4)]
HprNumber = Annotated[str, Field(pattern=r"^\d{4,9}$", description="Helsepersonellregisteret number")]
OrganisationNumber = Annotated[str, Field(pattern=r"^\d{9}$", description="Enhetsregisteret number")]


class Source(StrEnum):
    GP = "gp"
    HOSPITAL = "hospital"
    HOME_CARE = "home_care"
    PHARMACY = "pharmacy"
    PATIENT = "patient"


class EntryStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"


class TimeOfDay(StrEnum):
    MORNING = "morning"
    MIDDAY = "midday"
    EVENING = "evening"
    NIGHT = "night"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProductRef(StrictModel):
    """The product as precisely as the source knew it; every part is optional."""

    merkevare_id: str | None = Field(default=None, max_length=64, description="FEST LegemiddelMerkevare Id")
    varenr: str | None = Field(default=None, pattern=r"^\d{6}$", description="FEST package number")
    virkestoff_id: str | None = Field(default=None, max_length=64, description="FEST Virkestoff Id")
    atc: str | None = Field(default=None, pattern=r"^[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?$")


class ScheduledDose(StrictModel):
    """An amount at a named time of day or at a clock time (exactly one of them)."""

    time_of_day: TimeOfDay | None = None
    clock_time: dt.time | None = None
    amount: Amount

    @model_validator(mode="after")
    def _exactly_one_time(self) -> ScheduledDose:
        if (self.time_of_day is None) == (self.clock_time is None):
            raise ValueError("give either time_of_day or clock_time")
        return self


class IntervalDose(StrictModel):
    """An amount every N hours or days, counted from an anchor clock time."""

    every: int = Field(ge=1, le=365)
    period: Literal["hour", "day", "week"]
    amount: Amount
    anchor_time: dt.time | None = None


class AsNeededDose(StrictModel):
    """Ved behov: an amount per dose, an optional daily maximum, and what it is for."""

    amount: Amount
    max_per_day: Amount | None = None
    condition: ShortText | None = None


class Dosage(StrictModel):
    unit: ShortText = Field(description="dose unit as FEST names it, e.g. 'tablett', 'ml', 'mg'")
    schedule: list[ScheduledDose] = Field(default_factory=list, max_length=24)
    interval: IntervalDose | None = None
    as_needed: AsNeededDose | None = None

    @model_validator(mode="after")
    def _some_dose(self) -> Dosage:
        if not self.schedule and self.interval is None and self.as_needed is None:
            raise ValueError("a dosage needs a schedule, an interval or an as-needed dose")
        return self


class EntryFields(StrictModel):
    """What a clinician states about one medicine; shared by new entries and stored ones."""

    product: ProductRef = Field(default_factory=ProductRef)
    display_name: ShortText
    strength: ShortText | None = None
    form: ShortText | None = None
    dosage: Dosage | None = None
    dose_text: LongText | None = Field(default=None, description="the standard dose text as written")
    route: ShortText | None = None
    indication: ShortText | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    prescriber_hpr: HprNumber | None = None
    source: Source
    asserted_at: dt.datetime | None = Field(default=None, description="when the source asserted it")
    prescription_id: ShortText | None = None
    note: LongText | None = None
    last_dispensed_on: dt.date | None = Field(default=None, description="when a pharmacy last dispensed it")

    @model_validator(mode="after")
    def _dates_in_order(self) -> EntryFields:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class NewEntry(EntryFields):
    reason: LongText | None = Field(default=None, description="why it is added, for the history")


class EntryChange(StrictModel):
    """The fields to change; omitted fields keep their value, an explicit null clears an optional one."""

    product: ProductRef | None = None
    display_name: ShortText | None = None
    strength: ShortText | None = None
    form: ShortText | None = None
    dosage: Dosage | None = None
    dose_text: LongText | None = None
    route: ShortText | None = None
    indication: ShortText | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    prescriber_hpr: HprNumber | None = None
    source: Source | None = None
    asserted_at: dt.datetime | None = None
    prescription_id: ShortText | None = None
    note: LongText | None = None
    last_dispensed_on: dt.date | None = None
    reason: LongText | None = None


class StatusChange(StrictModel):
    reason: LongText | None = None
    source: Source | None = None


class StopEntry(StatusChange):
    reason: LongText = Field(description="why it is stopped; required")


class ReviewRequest(StrictModel):
    note: LongText | None = None
    source: Source | None = None


class Entry(EntryFields):
    id: uuid.UUID
    status: EntryStatus = EntryStatus.ACTIVE
    status_reason: LongText | None = None
    created_version: int
    updated_version: int


class Actor(StrictModel):
    """Who made a change, as the token said."""

    subject: ShortText
    name: ShortText | None = None
    hpr_number: HprNumber | None = None
    role: ShortText
    organisation: OrganisationNumber | None = None


class ReviewedMarker(StrictModel):
    by: Actor
    at: dt.datetime
    version: int


class MedicationList(StrictModel):
    patient_id: str
    version: int
    updated_at: dt.datetime | None = None
    reviewed: ReviewedMarker | None = None
    entries: list[Entry]


class ChangeAction(StrEnum):
    ADD = "add"
    CHANGE = "change"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    REVIEW = "review"


class Provenance(StrictModel):
    """Where a change came from when it was not typed in directly: a reconciled source snapshot."""

    snapshot_id: uuid.UUID | None = None
    proposal_id: uuid.UUID | None = None
    finding_id: uuid.UUID | None = None
    decision_id: uuid.UUID | None = None
    policy: ShortText | None = Field(default=None, description="the auto-apply rule, when no person decided")


class ChangeRecord(StrictModel):
    version: int
    recorded_at: dt.datetime
    action: ChangeAction
    entry_id: uuid.UUID | None
    actor: Actor
    organisation: str | None
    source: Source
    reason: str | None
    before: Entry | None
    after: Entry | None
    provenance: Provenance | None = None


class ChangePage(StrictModel):
    patient_id: str
    current_version: int
    changes: list[ChangeRecord]
    next_before_version: int | None = Field(
        default=None, description="pass as before_version to read the next (older) page"
    )


class ChangesSince(StrictModel):
    patient_id: str
    since_version: int
    current_version: int
    changes: list[ChangeRecord]
    has_more: bool = Field(description="true when more changes follow; ask again from the last version")
