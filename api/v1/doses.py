"""/v1/patients/{patient_id}/doses: the doses due on a day, in the municipality's time zone.

Thin: parse, authorize (reading doses is reading the list), call `pml.dosing`, render.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.access import ReadListAccess
from api.deps import DatabaseDep, SettingsDep
from api.v1.conditional import list_service
from pml.dosing.clock import DoseClock
from pml.dosing.schemas import DayPlan
from pml.dosing.service import DosingService
from pml.medication_list.repository import MedicationListRepository
from pml.settings import Settings

router = APIRouter(tags=["home care"])
LocalDay = Annotated[dt.date | None, Query(description="the local day (default: today in PML_TIME_ZONE)")]


def dosing_service(session: Any, settings: Settings) -> DosingService:
    clock = DoseClock.from_settings(settings)
    return DosingService(list_service(session, settings), MedicationListRepository(session), clock)


@router.get("/patients/{patient_id}/doses", response_model=DayPlan)
async def read_doses_due(
    access: ReadListAccess, database: DatabaseDep, settings: SettingsDep, date: LocalDay = None,
) -> DayPlan:  # fmt: skip
    """The day's scheduled doses in time order, grouped by time of day; as-needed medicines apart.

    Active entries within their start and end dates only. Clock times on daylight-saving change days follow
    one rule: a time in the spring gap moves forward by the gap (02:30 → 03:30), a time in the repeated autumn
    hour is due once, the first time the clock shows it. Intervals in hours count real elapsed hours.
    """
    day = date or DoseClock.from_settings(settings).today()
    async with database.read_transaction() as session:
        return await dosing_service(session, settings).day_plan(access.patient_id, day)
