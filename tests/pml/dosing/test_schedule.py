"""Doses of a day from structured dosage: named and clock times, intervals in real elapsed hours across both
daylight-saving changes, calendar-day intervals, as-needed apart, and which entries give no doses."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pml.dosing.clock import DoseClock, DstAdjustment
from pml.dosing.schedule import entry_doses, plan_day
from pml.dosing.times import NamedDoseTimes
from pml.medication_list.schemas import Dosage, Entry, EntryStatus, MedicationList, TimeOfDay

OSLO = ZoneInfo("Europe/Oslo")
CLOCK = DoseClock(OSLO, NamedDoseTimes())
SPRING = dt.date(2026, 3, 29)
AUTUMN = dt.date(2026, 10, 25)
ORDINARY = dt.date(2026, 2, 10)


def entry(*, dosage: dict[str, Any] | None, **fields: Any) -> Entry:
    return Entry.model_validate(
        {
            "id": uuid.uuid4(),
            "created_version": 1,
            "updated_version": 1,
            "source": "gp",
            "display_name": fields.pop("display_name", "Medisin tablett 10 mg"),
            "dosage": Dosage.model_validate(dosage) if dosage else None,
        }
        | fields
    )


def named(*times: str) -> dict[str, Any]:
    return {"unit": "tablett", "schedule": [{"time_of_day": time, "amount": 1} for time in times]}


def every(hours_or_days: int, period: str = "hour", anchor: str | None = None) -> dict[str, Any]:
    interval: dict[str, Any] = {"every": hours_or_days, "period": period, "amount": 2}
    if anchor:
        interval["anchor_time"] = anchor
    return {"unit": "kapsel", "interval": interval}


def walls(doses: list[Any]) -> list[str]:
    return [dose.local_time for dose in doses]


def utc(doses: list[Any]) -> list[dt.datetime]:
    return [dose.scheduled_at.astimezone(dt.UTC) for dose in doses]


def plan(*entries: Entry, day: dt.date = ORDINARY, **kwargs: Any) -> Any:
    return plan_day(MedicationList(patient_id="x", version=7, entries=list(entries)), day, CLOCK, **kwargs)


# -- fixed times ---------------------------------------------------------------------------------------------


def test_named_times_of_day_map_to_the_configured_clock_times() -> None:
    doses = entry_doses(entry(dosage=named("morning", "midday", "evening", "night")), ORDINARY, CLOCK)
    assert walls(doses) == ["08:00", "13:00", "18:00", "22:00"]
    assert [d.time_of_day for d in doses] == list(TimeOfDay)
    assert all(d.scheduled_at.utcoffset() == dt.timedelta(hours=1) for d in doses)


def test_configured_named_times_move_the_doses() -> None:
    clock = DoseClock(OSLO, NamedDoseTimes(morning=dt.time(7, 30), evening=dt.time(19, 15)))
    doses = entry_doses(entry(dosage=named("morning", "evening")), ORDINARY, clock)
    assert walls(doses) == ["07:30", "19:15"]


@pytest.mark.parametrize("day", [SPRING, AUTUMN])
def test_named_times_stay_on_the_clock_on_change_days(day: dt.date) -> None:
    doses = entry_doses(entry(dosage=named("morning", "night")), day, CLOCK)
    assert walls(doses) == ["08:00", "22:00"]
    assert all(d.dst_adjustment is None for d in doses)


def test_a_clock_time_in_the_spring_gap_is_given_an_hour_later_on_the_clock() -> None:
    dosage = {"unit": "tablett", "schedule": [{"clock_time": "02:30", "amount": 1}]}
    (dose,) = entry_doses(entry(dosage=dosage), SPRING, CLOCK)
    assert (dose.local_time, dose.prescribed_time) == ("03:30", "02:30")
    assert dose.dst_adjustment is DstAdjustment.MOVED_PAST_GAP
    assert dose.time_of_day is TimeOfDay.NIGHT


def test_a_clock_time_in_the_repeated_hour_is_due_once() -> None:
    dosage = {"unit": "tablett", "schedule": [{"clock_time": "02:30", "amount": 1}]}
    doses = entry_doses(entry(dosage=dosage), AUTUMN, CLOCK)
    assert len(doses) == 1
    assert doses[0].scheduled_at.isoformat() == "2026-10-25T02:30:00+02:00"
    assert doses[0].dst_adjustment is DstAdjustment.FIRST_OF_REPEATED_HOUR


# -- intervals -----------------------------------------------------------------------------------------------


def test_every_8_hours_from_the_default_anchor_on_an_ordinary_day() -> None:
    doses = entry_doses(entry(dosage=every(8), start_date=dt.date(2026, 1, 5)), ORDINARY, CLOCK)
    assert walls(doses) == ["00:00", "08:00", "16:00"]
    assert all(d.amount == Decimal(2) and d.unit == "kapsel" for d in doses)


def test_every_8_hours_across_the_spring_change_stays_8_real_hours_apart() -> None:
    medicine = entry(dosage=every(8), start_date=dt.date(2026, 1, 5))
    saturday = entry_doses(medicine, SPRING - dt.timedelta(days=1), CLOCK)
    sunday = entry_doses(medicine, SPRING, CLOCK)
    assert walls(saturday) == ["00:00", "08:00", "16:00"]
    assert walls(sunday) == ["00:00", "09:00", "17:00"]  # the clocks jumped; the medicine did not
    instants = utc(saturday + sunday)
    assert {b - a for a, b in itertools.pairwise(instants)} == {dt.timedelta(hours=8)}


def test_every_8_hours_across_the_autumn_change_stays_8_real_hours_apart() -> None:
    medicine = entry(dosage=every(8), start_date=dt.date(2026, 6, 1))
    sunday = entry_doses(medicine, AUTUMN, CLOCK)
    monday = entry_doses(medicine, AUTUMN + dt.timedelta(days=1), CLOCK)
    assert walls(sunday) == ["00:00", "07:00", "15:00", "23:00"]  # a 25-hour day holds four
    assert walls(monday) == ["07:00", "15:00", "23:00"]
    instants = utc(sunday + monday)
    assert {b - a for a, b in itertools.pairwise(instants)} == {dt.timedelta(hours=8)}


def test_an_interval_anchored_before_the_gap_counts_elapsed_hours_through_it() -> None:
    medicine = entry(dosage=every(4, anchor="00:00"), start_date=SPRING)
    assert walls(entry_doses(medicine, SPRING, CLOCK)) == [
        "00:00",
        "05:00",
        "09:00",
        "13:00",
        "17:00",
        "21:00",
    ]


def test_an_interval_gives_no_doses_before_its_anchor_on_the_start_date() -> None:
    medicine = entry(dosage=every(6, anchor="09:00"), start_date=ORDINARY)
    assert walls(entry_doses(medicine, ORDINARY, CLOCK)) == ["09:00", "15:00", "21:00"]


def test_every_other_day_counts_calendar_days_from_the_start_date() -> None:
    medicine = entry(dosage=every(2, "day", anchor="10:00"), start_date=dt.date(2026, 3, 27))
    by_day = {
        day: walls(entry_doses(medicine, day, CLOCK)) for day in (SPRING - dt.timedelta(days=1), SPRING)
    }
    assert by_day == {dt.date(2026, 3, 28): [], SPRING: ["10:00"]}  # 10:00 summer time, on the clock


def test_weekly_doses_fall_on_the_start_dates_weekday() -> None:
    medicine = entry(dosage=every(1, "week"), start_date=dt.date(2026, 2, 3))  # a Tuesday
    assert walls(entry_doses(medicine, dt.date(2026, 2, 10), CLOCK)) == ["08:00"]
    assert walls(entry_doses(medicine, dt.date(2026, 2, 11), CLOCK)) == []


def test_an_interval_without_a_start_date_is_anchored_on_the_day_it_was_added() -> None:
    medicine = entry(dosage=every(12, anchor="06:00"))
    added = dt.date(2026, 2, 1)
    assert walls(entry_doses(medicine, ORDINARY, CLOCK, added)) == ["06:00", "18:00"]
    assert walls(plan(medicine, added_on={medicine.id: added}).doses) == ["06:00", "18:00"]


def test_every_36_hours_alternates_between_days() -> None:
    medicine = entry(dosage=every(36), start_date=dt.date(2026, 2, 1))
    days = [dt.date(2026, 2, 1) + dt.timedelta(days=n) for n in range(4)]
    assert [walls(entry_doses(medicine, day, CLOCK)) for day in days] == [["08:00"], ["20:00"], [], ["08:00"]]


# -- the plan ------------------------------------------------------------------------------------------------


def test_as_needed_medicines_are_listed_apart_with_their_daily_maximum() -> None:
    dosage = {"unit": "tablett", "as_needed": {"amount": 1, "max_per_day": 4, "condition": "smerter"}}
    result = plan(entry(dosage=dosage, display_name="Paracet 500 mg"))
    assert result.doses == []
    (medicine,) = result.as_needed
    assert (medicine.display_name, medicine.max_per_day, medicine.condition) == (
        "Paracet 500 mg",
        4,
        "smerter",
    )


def test_an_entry_with_a_schedule_and_as_needed_gives_both() -> None:
    dosage = named("morning") | {"as_needed": {"amount": 1}}
    result = plan(entry(dosage=dosage))
    assert (len(result.doses), len(result.as_needed)) == (1, 1)


@pytest.mark.parametrize(
    "fields",
    [
        {"status": EntryStatus.PAUSED},
        {"status": EntryStatus.STOPPED, "status_reason": "bivirkninger"},
        {"start_date": ORDINARY + dt.timedelta(days=1)},
        {"start_date": dt.date(2026, 1, 1), "end_date": ORDINARY - dt.timedelta(days=1)},
    ],
    ids=["paused", "stopped", "not-started", "expired"],
)
def test_paused_stopped_and_out_of_date_entries_give_no_doses(fields: dict[str, Any]) -> None:
    dosage = named("morning") | {"as_needed": {"amount": 1}}
    result = plan(entry(dosage=dosage, **fields))
    assert (result.doses, result.as_needed, result.unstructured) == ([], [], [])


def test_the_start_and_end_dates_are_both_included() -> None:
    medicine = entry(dosage=named("morning"), start_date=ORDINARY, end_date=ORDINARY)
    assert len(plan(medicine).doses) == 1


def test_the_plan_orders_doses_in_time_and_keeps_unstructured_entries_apart() -> None:
    result = plan(
        entry(dosage=named("evening"), display_name="B"),
        entry(dosage=named("morning", "evening"), display_name="A"),
        entry(dosage=None, display_name="Fritekst", dose_text="1 tablett ved behov"),
    )
    assert [(d.local_time, d.display_name) for d in result.doses] == [
        ("08:00", "A"),
        ("18:00", "A"),
        ("18:00", "B"),
    ]
    assert [u.display_name for u in result.unstructured] == ["Fritekst"]
    assert (result.list_version, result.time_zone, result.day_length_hours) == (7, "Europe/Oslo", 24)


@pytest.mark.parametrize(("day", "hours"), [(SPRING, 23), (AUTUMN, 25)])
def test_the_plan_says_how_long_a_change_day_is(day: dt.date, hours: int) -> None:
    assert plan(day=day).day_length_hours == hours
