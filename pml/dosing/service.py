"""Doses due for a patient on a day: the current list, planned by `pml.dosing.schedule`."""

from __future__ import annotations

import datetime as dt
import uuid

from pml.dosing.clock import DoseClock
from pml.dosing.schedule import entry_doses, plan_day, within_dates
from pml.dosing.schemas import DayPlan, DueDose
from pml.medication_list.repository import MedicationListRepository
from pml.medication_list.schemas import Entry
from pml.medication_list.service import MedicationListService


class DosingService:
    def __init__(
        self, lists: MedicationListService, list_repository: MedicationListRepository, clock: DoseClock
    ) -> None:
        self._lists = lists
        self._list_repository = list_repository
        self._clock = clock

    async def day_plan(self, patient_id: str, day: dt.date) -> DayPlan:
        """The plan of `day` from the current list. A past day is planned from today's list too: start and
        end dates say when a medicine applies, and what the list said back then is `/as-of`'s job."""
        medication_list = await self._lists.current(patient_id)
        added_on = await self._added_on(patient_id, medication_list.entries)
        return plan_day(medication_list, day, self._clock, added_on=added_on)

    async def entry_doses_on(self, patient_id: str, entry: Entry, day: dt.date) -> list[DueDose]:
        """The doses `entry` has on `day` by its dosage and dates, whatever its status."""
        if not within_dates(entry, day):
            return []
        added_on = await self._added_on(patient_id, [entry])
        return entry_doses(entry, day, self._clock, added_on.get(entry.id))

    async def _added_on(self, patient_id: str, entries: list[Entry]) -> dict[uuid.UUID, dt.date]:
        """The day each interval entry without a start date was put on the list: its interval's anchor day."""
        added: dict[uuid.UUID, dt.date] = {}
        for entry in entries:
            if entry.start_date is None and entry.dosage is not None and entry.dosage.interval is not None:
                recorded_at = await self._list_repository.change_time(patient_id, entry.created_version)
                if recorded_at is not None:
                    added[entry.id] = self._clock.local(recorded_at).date()
        return added
