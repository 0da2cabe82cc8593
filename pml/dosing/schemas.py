"""What a patient's day of doses looks like to a caller: scheduled doses, as-needed medicines apart."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from pml.dosing.clock import DstAdjustment
from pml.medication_list.schemas import TimeOfDay

# A wall-clock time as HH:MM; JSON Schema's "time" format demands an offset, which a wall time has not got.
ClockTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class DoseKind(StrEnum):
    FIXED = "fixed"  # a named time of day or a clock time
    INTERVAL = "interval"  # every N hours, days or weeks from an anchor


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class EntryRef(_Out):
    entry_id: uuid.UUID
    display_name: str
    strength: str | None
    form: str | None
    route: str | None
    dose_text: str | None
    unit: str | None


class DueDose(EntryRef):
    """One scheduled dose. `scheduled_at` identifies it: an administration names it back unchanged."""

    kind: DoseKind
    amount: Decimal
    scheduled_at: dt.datetime = Field(description="the instant, with the zone's offset that day")
    local_time: str = Field(description="HH:MM as the clock shows it")
    time_of_day: TimeOfDay = Field(description="the round this dose belongs to (nearest named time)")
    prescribed_time: ClockTime | None = Field(
        default=None, description="HH:MM as prescribed, for fixed doses (a named time resolved)"
    )
    dst_adjustment: DstAdjustment | None = Field(
        default=None, description="set on daylight-saving change days when the prescribed time was moved"
    )


class AsNeededMedicine(EntryRef):
    """Ved behov: given when needed, never scheduled."""

    amount: Decimal
    max_per_day: Decimal | None
    condition: str | None


class UnstructuredEntry(EntryRef):
    """An active entry whose dosage is only a dose text: PML cannot say when it is due."""


class DayPlan(_Out):
    patient_id: str
    date: dt.date
    time_zone: str
    list_version: int = Field(description="the list version the plan was computed from")
    day_starts_at: dt.datetime
    day_ends_at: dt.datetime
    day_length_hours: int = Field(description="23 or 25 on daylight-saving change days")
    named_times: dict[TimeOfDay, ClockTime] = Field(description="the clock time each named time stands for")
    doses: list[DueDose] = Field(description="scheduled doses in time order")
    as_needed: list[AsNeededMedicine]
    unstructured: list[UnstructuredEntry]
