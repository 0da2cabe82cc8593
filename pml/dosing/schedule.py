"""The doses of one day, computed from the entries' structured dosage. Pure: no database, no clock reads.

Which entries count: status active, and the day within start_date..end_date (both inclusive). Paused and
stopped entries give no doses; as-needed doses are listed apart and never scheduled.

Times:
- A named time of day is the municipality's clock time for it (`NamedDoseTimes`), resolved like any clock
  time.
- A clock time is resolved on the day by the DST rule in `pml.dosing.clock`.
- **Every N hours** is counted in real elapsed hours from its anchor: the anchor clock time (default the
  morning time, 08:00) on the entry's start date, or on the day it was added to the list when it has no start
  date. The series never restarts, so consecutive doses are exactly N hours apart across a daylight-saving
  change; the wall-clock times of the series move by the hour the clocks moved (every 8 hours from 08:00 in
  winter is 09:00, 17:00 and 01:00 in summer time).
- **Every N days or weeks** is counted in calendar days from the same anchor day, at the anchor clock time
  resolved on each dose day (a daily medicine stays at 08:00 whatever the season).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping

from pml.dosing.clock import UTC, DoseClock, ResolvedTime
from pml.dosing.schemas import (
    AsNeededMedicine,
    DayPlan,
    DoseKind,
    DueDose,
    UnstructuredEntry,
)
from pml.medication_list.schemas import (
    Entry,
    EntryStatus,
    IntervalDose,
    MedicationList,
    ScheduledDose,
    TimeOfDay,
)

_DAYS_PER_PERIOD = {"day": 1, "week": 7}


def plan_day(
    medication_list: MedicationList,
    day: dt.date,
    clock: DoseClock,
    *,
    added_on: Mapping[uuid.UUID, dt.date] | None = None,
) -> DayPlan:
    """The day's plan. `added_on` gives the day each entry was put on the list (the anchor day of intervals
    in entries without a start date)."""
    added_on = added_on or {}
    entries = [entry for entry in medication_list.entries if is_active_on(entry, day)]
    doses = [dose for entry in entries for dose in entry_doses(entry, day, clock, added_on.get(entry.id))]
    doses.sort(key=lambda dose: (dose.scheduled_at, dose.display_name, str(dose.entry_id)))
    start, end = clock.day_bounds(day)
    return DayPlan(
        patient_id=medication_list.patient_id,
        date=day,
        time_zone=clock.zone.key,
        list_version=medication_list.version,
        day_starts_at=clock.local(start),
        day_ends_at=clock.local(end),
        day_length_hours=round((end - start) / dt.timedelta(hours=1)),
        named_times={name: clock.named_time(name).strftime("%H:%M") for name in TimeOfDay},
        doses=doses,
        as_needed=[medicine for entry in entries if (medicine := _as_needed(entry)) is not None],
        unstructured=[_unstructured(entry) for entry in entries if entry.dosage is None],
    )


def is_active_on(entry: Entry, day: dt.date) -> bool:
    return entry.status is EntryStatus.ACTIVE and within_dates(entry, day)


def within_dates(entry: Entry, day: dt.date) -> bool:
    if entry.start_date is not None and day < entry.start_date:
        return False
    return entry.end_date is None or day <= entry.end_date


def entry_doses(
    entry: Entry, day: dt.date, clock: DoseClock, added_on: dt.date | None = None
) -> list[DueDose]:
    """The scheduled doses of one entry on `day` (not checking status or dates; see `is_active_on`)."""
    if entry.dosage is None:
        return []
    fixed = [_fixed_dose(entry, scheduled, day, clock) for scheduled in entry.dosage.schedule]
    interval = entry.dosage.interval
    if interval is None:
        return fixed
    anchor_day = entry.start_date or added_on or day
    return fixed + [
        _interval_dose(entry, interval, at, clock)
        for at in interval_instants(interval, anchor_day, day, clock)
    ]


def interval_instants(
    interval: IntervalDose, anchor_day: dt.date, day: dt.date, clock: DoseClock
) -> Iterator[dt.datetime]:
    """The instants (UTC) an interval falls on within `day`."""
    anchor_time = interval.anchor_time or clock.named_time(TimeOfDay.MORNING)
    if interval.period == "hour":
        epoch = clock.resolve(anchor_day, anchor_time).at.astimezone(UTC)
        yield from _elapsed_series(epoch, dt.timedelta(hours=interval.every), *clock.day_bounds(day))
        return
    days_since_anchor = (day - anchor_day).days
    if (
        days_since_anchor >= 0
        and days_since_anchor % (interval.every * _DAYS_PER_PERIOD[interval.period]) == 0
    ):
        yield clock.resolve(day, anchor_time).at.astimezone(UTC)


def _elapsed_series(
    epoch: dt.datetime, step: dt.timedelta, start: dt.datetime, end: dt.datetime
) -> Iterator[dt.datetime]:
    """epoch + k·step for k ≥ 0, within [start, end); all instants in UTC, so steps are real elapsed time."""
    first = max(0, -((epoch - start) // step))  # ceil((start - epoch) / step)
    at = epoch + first * step
    while at < end:
        yield at
        at += step


def _entry_fields(entry: Entry) -> dict[str, object]:
    return {
        "entry_id": entry.id,
        "display_name": entry.display_name,
        "strength": entry.strength,
        "form": entry.form,
        "route": entry.route,
        "dose_text": entry.dose_text,
        "unit": entry.dosage.unit if entry.dosage else None,
    }


def _fixed_dose(entry: Entry, scheduled: ScheduledDose, day: dt.date, clock: DoseClock) -> DueDose:
    prescribed = scheduled.clock_time or clock.named_time(_named(scheduled))
    # Grouped by the prescribed time, so a 02:30 dose stays in the night round on the day it moves to 03:30.
    time_of_day = scheduled.time_of_day or clock.time_of_day_for(prescribed)
    resolved = clock.resolve(day, prescribed)
    return _dose(
        entry,
        DoseKind.FIXED,
        scheduled.amount,
        resolved,
        clock,
        time_of_day=time_of_day,
        prescribed=prescribed,
    )


def _named(scheduled: ScheduledDose) -> TimeOfDay:
    assert scheduled.time_of_day is not None, "a ScheduledDose has a clock time or a time of day"
    return scheduled.time_of_day


def _interval_dose(entry: Entry, interval: IntervalDose, at: dt.datetime, clock: DoseClock) -> DueDose:
    return _dose(entry, DoseKind.INTERVAL, interval.amount, ResolvedTime(clock.local(at), None), clock)


def _dose(
    entry: Entry,
    kind: DoseKind,
    amount: object,
    resolved: ResolvedTime,
    clock: DoseClock,
    *,
    time_of_day: TimeOfDay | None = None,
    prescribed: dt.time | None = None,
) -> DueDose:
    wall = resolved.at.timetz().replace(tzinfo=None)
    return DueDose.model_validate(
        _entry_fields(entry)
        | {
            "kind": kind,
            "amount": amount,
            "scheduled_at": resolved.at,
            "local_time": wall.strftime("%H:%M"),
            "time_of_day": time_of_day or clock.time_of_day_for(wall),
            "prescribed_time": prescribed.strftime("%H:%M") if prescribed else None,
            "dst_adjustment": resolved.adjustment,
        }
    )


def _as_needed(entry: Entry) -> AsNeededMedicine | None:
    if entry.dosage is None or entry.dosage.as_needed is None:
        return None
    as_needed = entry.dosage.as_needed
    return AsNeededMedicine.model_validate(
        _entry_fields(entry)
        | {"amount": as_needed.amount, "max_per_day": as_needed.max_per_day, "condition": as_needed.condition}
    )


def _unstructured(entry: Entry) -> UnstructuredEntry:
    return UnstructuredEntry.model_validate(_entry_fields(entry))
