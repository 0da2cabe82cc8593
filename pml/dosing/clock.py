"""Wall-clock times in the municipality's time zone, and what PML does when the clock jumps.

Europe/Oslo leaves out 02:00–02:59 on the last Sunday of March and shows it twice on the last Sunday of
October. A prescribed clock time on those days is resolved by one rule, the one RFC 5545 (iCalendar) uses:

- **In the spring gap** (e.g. 02:30, which never shows on the clock) the dose is due at the instant the time
  would have had with the offset before the gap: 02:30 +01:00, which the clock shows as 03:30 summer time. The
  dose moves forward by the length of the gap; it is neither skipped nor pulled back to before the gap.
- **In the repeated autumn hour** (e.g. 02:30, which shows twice) the dose is due once, at the first time the
  clock shows it (02:30 +02:00, summer time). It is never due twice.

All arithmetic on instants is done in UTC: Python subtracts two datetimes of the same zone as wall times,
which would be an hour off across a change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pml.dosing.times import NamedDoseTimes
from pml.medication_list.schemas import TimeOfDay

if TYPE_CHECKING:
    from pml.settings import Settings

UTC = dt.UTC
_MINUTES_PER_DAY = 24 * 60


class DstAdjustment(StrEnum):
    """How a prescribed clock time was resolved on a daylight-saving change day."""

    MOVED_PAST_GAP = "moved-past-gap"
    FIRST_OF_REPEATED_HOUR = "first-of-repeated-hour"


@dataclass(frozen=True, slots=True)
class ResolvedTime:
    at: dt.datetime  # aware, in the clock's zone, normalised (its wall time is what the clock shows)
    adjustment: DstAdjustment | None


@dataclass(frozen=True, slots=True)
class DoseClock:
    zone: ZoneInfo
    named_times: NamedDoseTimes

    @classmethod
    def from_settings(cls, settings: Settings) -> DoseClock:
        return cls(zone=settings.time_zone, named_times=settings.named_dose_times)

    def named_time(self, time_of_day: TimeOfDay) -> dt.time:
        clock_time: dt.time = getattr(self.named_times, time_of_day.value)
        return clock_time

    def resolve(self, day: dt.date, clock_time: dt.time) -> ResolvedTime:
        """The instant a prescribed wall-clock time stands for on `day` (see the module's DST rule)."""
        naive = dt.datetime.combine(day, clock_time.replace(tzinfo=None))
        first = naive.replace(tzinfo=self.zone, fold=0)
        second = naive.replace(tzinfo=self.zone, fold=1)
        if first.utcoffset() == second.utcoffset():
            return ResolvedTime(first, None)
        # fold=0 carries the offset in force before the change, for a gap and a repeat alike.
        normalised = first.astimezone(UTC).astimezone(self.zone)
        if normalised.replace(tzinfo=None) != naive:
            return ResolvedTime(normalised, DstAdjustment.MOVED_PAST_GAP)
        return ResolvedTime(normalised, DstAdjustment.FIRST_OF_REPEATED_HOUR)

    def day_bounds(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) of the local day as UTC instants; 23, 24 or 25 hours long."""
        start = self.resolve(day, dt.time(0, 0)).at.astimezone(UTC)
        end = self.resolve(day + dt.timedelta(days=1), dt.time(0, 0)).at.astimezone(UTC)
        return start, end

    def local(self, instant: dt.datetime) -> dt.datetime:
        return instant.astimezone(self.zone)

    def today(self, now: dt.datetime | None = None) -> dt.date:
        return (now or dt.datetime.now(UTC)).astimezone(self.zone).date()

    def time_of_day_for(self, wall_time: dt.time) -> TimeOfDay:
        """The named time nearest a wall-clock time on the 24-hour circle (a tie goes to the earlier one), so
        a 07:00 dose groups with the morning round and 02:00 with the night."""

        def distance(named: TimeOfDay) -> tuple[int, int]:
            delta = (_minutes(wall_time) - _minutes(self.named_time(named))) % _MINUTES_PER_DAY
            after = delta  # minutes since the named time
            return min(after, _MINUTES_PER_DAY - after), 0 if after <= _MINUTES_PER_DAY - after else 1

        return min(TimeOfDay, key=distance)


def _minutes(clock_time: dt.time) -> int:
    return clock_time.hour * 60 + clock_time.minute
