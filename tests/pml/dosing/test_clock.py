"""The DST rule: a clock time in the spring gap moves forward by the gap; one in the repeated autumn hour is
due once, the first time the clock shows it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from pml.dosing.clock import DoseClock, DstAdjustment
from pml.dosing.times import NamedDoseTimes
from pml.medication_list.schemas import TimeOfDay

OSLO = ZoneInfo("Europe/Oslo")
CLOCK = DoseClock(OSLO, NamedDoseTimes())
SPRING = dt.date(2026, 3, 29)  # 02:00 → 03:00
AUTUMN = dt.date(2026, 10, 25)  # 03:00 → 02:00
WINTER_DAY = dt.date(2026, 1, 15)
SUMMER_DAY = dt.date(2026, 7, 15)


def offset_hours(moment: dt.datetime) -> float:
    offset = moment.utcoffset()
    assert offset is not None
    return offset / dt.timedelta(hours=1)


@pytest.mark.parametrize(("day", "offset"), [(WINTER_DAY, 1), (SUMMER_DAY, 2)])
def test_an_ordinary_day_keeps_the_clock_time_with_the_seasons_offset(day: dt.date, offset: int) -> None:
    resolved = CLOCK.resolve(day, dt.time(8, 0))
    assert (resolved.at.time(), offset_hours(resolved.at), resolved.adjustment) == (
        dt.time(8, 0),
        offset,
        None,
    )


@pytest.mark.parametrize(
    ("prescribed", "shown"),
    [(dt.time(2, 0), dt.time(3, 0)), (dt.time(2, 30), dt.time(3, 30)), (dt.time(2, 59), dt.time(3, 59))],
)
def test_a_time_in_the_spring_gap_moves_forward_by_the_gap(prescribed: dt.time, shown: dt.time) -> None:
    resolved = CLOCK.resolve(SPRING, prescribed)
    assert resolved.at.time() == shown
    assert offset_hours(resolved.at) == 2
    assert resolved.adjustment is DstAdjustment.MOVED_PAST_GAP
    # the instant the prescribed time has with the offset before the gap
    assert resolved.at == dt.datetime.combine(SPRING, prescribed, dt.timezone(dt.timedelta(hours=1)))


@pytest.mark.parametrize("prescribed", [dt.time(1, 59), dt.time(3, 0), dt.time(8, 0)])
def test_times_around_the_spring_gap_are_not_adjusted(prescribed: dt.time) -> None:
    resolved = CLOCK.resolve(SPRING, prescribed)
    assert (resolved.at.time(), resolved.adjustment) == (prescribed, None)


def test_a_time_in_the_repeated_autumn_hour_is_due_the_first_time_the_clock_shows_it() -> None:
    resolved = CLOCK.resolve(AUTUMN, dt.time(2, 30))
    assert resolved.at.time() == dt.time(2, 30)
    assert offset_hours(resolved.at) == 2  # still summer time: the first pass
    assert resolved.adjustment is DstAdjustment.FIRST_OF_REPEATED_HOUR
    assert resolved.at.astimezone(dt.UTC) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("prescribed", "offset"), [(dt.time(1, 59), 2), (dt.time(3, 0), 1), (dt.time(8, 0), 1)]
)
def test_times_around_the_repeated_hour_are_not_adjusted(prescribed: dt.time, offset: int) -> None:
    resolved = CLOCK.resolve(AUTUMN, prescribed)
    assert (resolved.at.time(), offset_hours(resolved.at), resolved.adjustment) == (prescribed, offset, None)


@pytest.mark.parametrize(("day", "hours"), [(WINTER_DAY, 24), (SPRING, 23), (AUTUMN, 25), (SUMMER_DAY, 24)])
def test_a_local_day_lasts_23_24_or_25_hours(day: dt.date, hours: int) -> None:
    start, end = CLOCK.day_bounds(day)
    assert end - start == dt.timedelta(hours=hours)
    assert start.astimezone(OSLO).time() == dt.time(0, 0) == end.astimezone(OSLO).time()


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        (dt.time(7, 0), TimeOfDay.MORNING),
        (dt.time(10, 30), TimeOfDay.MORNING),  # as near to 08:00 as to 13:00: the earlier round
        (dt.time(10, 31), TimeOfDay.MIDDAY),
        (dt.time(15, 0), TimeOfDay.MIDDAY),
        (dt.time(20, 0), TimeOfDay.EVENING),
        (dt.time(23, 30), TimeOfDay.NIGHT),
        (dt.time(2, 0), TimeOfDay.NIGHT),
        (dt.time(3, 0), TimeOfDay.NIGHT),  # midway between 22:00 and 08:00
        (dt.time(3, 1), TimeOfDay.MORNING),
    ],
)
def test_a_clock_time_groups_with_the_nearest_named_time(wall: dt.time, expected: TimeOfDay) -> None:
    assert CLOCK.time_of_day_for(wall) is expected


def test_named_times_follow_the_configuration() -> None:
    clock = DoseClock(OSLO, NamedDoseTimes(morning=dt.time(7, 30), night=dt.time(21, 0)))
    assert clock.named_time(TimeOfDay.MORNING) == dt.time(7, 30)
    assert clock.named_time(TimeOfDay.MIDDAY) == dt.time(13, 0)
    assert clock.time_of_day_for(dt.time(21, 30)) is TimeOfDay.NIGHT
