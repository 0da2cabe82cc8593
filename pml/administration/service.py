"""Recording what was given, partly given or not given, and reading it back by day.

A record is evidence of something that happened at the patient's home, so it is stored even when the list has
moved on since the nurse looked at it: it is then flagged for a clinician's review, never refused. What is
refused is only what cannot be true: an entry that is not on the patient's list, a list version that never
existed, a time in the future, a correction of a record that was already corrected.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal

from pml.administration.errors import (
    AdministrationNotFound,
    AlreadyCorrected,
    OccurredInTheFuture,
    UnknownListVersion,
)
from pml.administration.repository import AdministrationRepository, NewRecord
from pml.administration.schemas import (
    AdministrationChain,
    AdministrationDay,
    AdministrationRecord,
    EntrySnapshot,
    NewAdministration,
    Outcome,
    ReviewReason,
)
from pml.dosing.clock import DoseClock
from pml.dosing.service import DosingService
from pml.medication_list.errors import EntryNotFound
from pml.medication_list.schemas import Actor, Entry, EntryStatus
from pml.medication_list.service import MedicationListService

# Phones' clocks drift; a record a few minutes "in the future" is a clock, not a lie.
FUTURE_TOLERANCE = timedelta(minutes=5)
_GIVING = frozenset({Outcome.GIVEN, Outcome.PARTLY_GIVEN})


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AdministrationService:
    def __init__(
        self,
        repository: AdministrationRepository,
        lists: MedicationListService,
        dosing: DosingService,
        clock: DoseClock,
        *,
        now: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._repo = repository
        self._lists = lists
        self._dosing = dosing
        self._clock = clock
        self._now = now

    async def lock(self, patient_id: str) -> None:
        await self._repo.lock_patient(patient_id)

    # -- writes ------------------------------------------------------------------------------------------

    async def record(self, patient_id: str, new: NewAdministration, actor: Actor) -> AdministrationRecord:
        """Store one record; the caller holds `lock(patient_id)` for the transaction."""
        if new.occurred_at > self._now() + FUTURE_TOLERANCE:
            raise OccurredInTheFuture("occurred_at is later than now; check the device's clock")
        entry = await self._entry_seen(patient_id, new)
        if new.corrects is not None:
            await self._check_correctable(patient_id, new.corrects)
        reasons = await self._review_reasons(patient_id, entry, new)
        return await self._repo.insert(patient_id, self._new_record(entry, new, actor, reasons))

    async def _entry_seen(self, patient_id: str, new: NewAdministration) -> Entry:
        medication_list = await self._lists.current(patient_id)
        if new.list_version > medication_list.version:
            raise UnknownListVersion(
                f"the list is at version {medication_list.version}; version {new.list_version} was never seen"
            )
        for entry in medication_list.entries:
            if entry.id == new.entry_id:
                return entry
        raise EntryNotFound(f"entry {new.entry_id} is not on this patient's list")

    async def _check_correctable(self, patient_id: str, corrected_id: uuid.UUID) -> None:
        if await self._repo.get(patient_id, corrected_id) is None:
            raise AdministrationNotFound(f"record {corrected_id} does not exist for this patient")
        corrected_by = await self._repo.correction_of(patient_id, corrected_id)
        if corrected_by is not None:
            raise AlreadyCorrected(corrected_id, corrected_by)

    def _new_record(
        self, entry: Entry, new: NewAdministration, actor: Actor, reasons: list[ReviewReason]
    ) -> NewRecord:
        return NewRecord(
            record_id=uuid.uuid4(),
            entry_id=entry.id,
            scheduled_at=new.scheduled_at,
            dose_at=new.scheduled_at or new.occurred_at,
            outcome=new.outcome.value,
            amount=new.amount,
            unit=new.unit or (entry.dosage.unit if entry.dosage else None),
            reason=new.reason.value if new.reason else None,
            note=new.note,
            occurred_at=new.occurred_at,
            recorded_by=actor,
            list_version=new.list_version,
            corrects=new.corrects,
            review_reasons=reasons,
            entry=EntrySnapshot(
                display_name=entry.display_name,
                strength=entry.strength,
                dose_text=entry.dose_text,
                status=entry.status.value,
                updated_version=entry.updated_version,
            ),
        )

    # -- review flags ------------------------------------------------------------------------------------

    async def _review_reasons(
        self, patient_id: str, entry: Entry, new: NewAdministration
    ) -> list[ReviewReason]:
        reasons = _status_reasons(entry, new.list_version)
        if reasons:
            return (
                reasons  # the dose plan the nurse saw is no longer the entry's: checking it says nothing more
            )
        if new.scheduled_at is not None:
            return await self._scheduled_reasons(patient_id, entry, new.scheduled_at)
        if new.outcome in _GIVING:
            return await self._as_needed_reasons(patient_id, entry, new)
        return []

    async def _scheduled_reasons(
        self, patient_id: str, entry: Entry, scheduled_at: dt.datetime
    ) -> list[ReviewReason]:
        day = self._clock.local(scheduled_at).date()
        planned = await self._dosing.entry_doses_on(patient_id, entry, day)
        if any(dose.scheduled_at == scheduled_at for dose in planned):
            return []
        return [ReviewReason.NOT_A_SCHEDULED_TIME]

    async def _as_needed_reasons(
        self, patient_id: str, entry: Entry, new: NewAdministration
    ) -> list[ReviewReason]:
        as_needed = entry.dosage.as_needed if entry.dosage else None
        if as_needed is None:
            return [ReviewReason.NOT_AS_NEEDED]
        if as_needed.max_per_day is None:
            return []
        given_before = await self._as_needed_given_on(patient_id, entry, new, as_needed.amount)
        if given_before + (new.amount or as_needed.amount) > as_needed.max_per_day:
            return [ReviewReason.ABOVE_DAILY_MAXIMUM]
        return []

    async def _as_needed_given_on(
        self, patient_id: str, entry: Entry, new: NewAdministration, planned_amount: Decimal
    ) -> Decimal:
        """The as-needed amount of `entry` already given on the local day of `new` (corrected records and the
        one `new` corrects do not count)."""
        start, end = self._clock.day_bounds(self._clock.local(new.occurred_at).date())
        chains = _chains(await self._repo.chains_with_dose_in(patient_id, start, end))
        total = Decimal(0)
        for chain in chains:
            record = chain.effective
            if new.corrects in {r.record_id for r in chain.records}:
                continue
            if record.entry_id == entry.id and record.scheduled_at is None and record.outcome in _GIVING:
                total += record.amount or planned_amount
        return total

    # -- reads -------------------------------------------------------------------------------------------

    async def day(self, patient_id: str, day: dt.date) -> AdministrationDay:
        """The chains whose effective record's dose time falls on the local day."""
        start, end = self._clock.day_bounds(day)
        chains = _chains(await self._repo.chains_with_dose_in(patient_id, start, end))
        on_day = [chain for chain in chains if start <= chain.effective.dose_at < end]
        on_day.sort(key=lambda chain: (chain.effective.dose_at, str(chain.effective.entry_id)))
        return AdministrationDay(
            patient_id=patient_id, date=day, time_zone=self._clock.zone.key, chains=on_day
        )

    async def chain(self, patient_id: str, record_id: uuid.UUID) -> AdministrationChain:
        records = await self._repo.chain_of(patient_id, record_id)
        if not records:
            raise AdministrationNotFound(f"record {record_id} does not exist for this patient")
        (chain,) = _chains(records)
        return chain


def _status_reasons(entry: Entry, version_seen: int) -> list[ReviewReason]:
    if entry.status is EntryStatus.STOPPED:
        return [ReviewReason.ENTRY_STOPPED]
    if entry.status is EntryStatus.PAUSED:
        return [ReviewReason.ENTRY_PAUSED]
    if entry.updated_version > version_seen:
        return [ReviewReason.ENTRY_CHANGED]
    return []


def _chains(records: Iterable[AdministrationRecord]) -> list[AdministrationChain]:
    """Records linked by `corrects` into chains, each oldest first."""
    by_id = {record.record_id: record for record in records}
    correction = {record.corrects: record for record in by_id.values() if record.corrects is not None}
    chains = []
    for root in (record for record in by_id.values() if record.corrects not in by_id):
        members = [root]
        while (child := correction.get(members[-1].record_id)) is not None:
            members.append(child)
        chains.append(AdministrationChain(effective=members[-1], records=members, corrected=len(members) > 1))
    return chains
