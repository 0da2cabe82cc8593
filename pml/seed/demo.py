"""Seed synthetic demo patients: 3–12 medicines each, a few paused or stopped, some lists reviewed."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from pml.db.engine import Database
from pml.medication_list.repository import MedicationListRepository
from pml.medication_list.schemas import (
    Actor,
    AsNeededDose,
    ChangeAction,
    Dosage,
    NewEntry,
    ProductRef,
    ScheduledDose,
    Source,
    TimeOfDay,
)
from pml.medication_list.service import ListLimits, MedicationListService
from pml.national_id import IdKind, make_national_id
from pml.seed.medicines import FORMULARY, Medicine

SEED_ACTOR = Actor(subject="pml-seed", name="PML demo data", role="system")


def _dosage(medicine: Medicine) -> Dosage:
    amounts = {
        TimeOfDay.MORNING: medicine.morning,
        TimeOfDay.MIDDAY: medicine.midday,
        TimeOfDay.EVENING: medicine.evening,
        TimeOfDay.NIGHT: medicine.night,
    }
    schedule = [ScheduledDose(time_of_day=time, amount=amount) for time, amount in amounts.items() if amount]
    as_needed = None
    if medicine.as_needed_max is not None:
        as_needed = AsNeededDose(amount=1, max_per_day=medicine.as_needed_max, condition=medicine.indication)
    return Dosage(unit=medicine.unit, schedule=schedule, as_needed=as_needed)


def demo_entry(medicine: Medicine, rng: random.Random, today: dt.date) -> NewEntry:
    return NewEntry(
        product=ProductRef(atc=medicine.atc if len(medicine.atc) == 7 else None),
        display_name=f"{medicine.name} {medicine.form} {medicine.strength}",
        strength=medicine.strength,
        form=medicine.form,
        dosage=_dosage(medicine),
        dose_text=medicine.dose_text,
        route="oral" if medicine.form in ("tablett", "kapsel", "enterotablett", "depottablett") else None,
        indication=medicine.indication,
        start_date=today - dt.timedelta(days=rng.randint(10, 2000)),
        prescriber_hpr=str(rng.randint(1000000, 9999999)),
        source=rng.choice([Source.GP, Source.GP, Source.GP, Source.HOSPITAL]),
    )


def demo_patient_id(rng: random.Random) -> str:
    birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 70))
    return make_national_id(birth, kind=IdKind.SYNTHETIC, rng=rng)


async def seed_patient(service: MedicationListService, patient_id: str, rng: random.Random) -> int:
    """Build one patient's list through the service, so demo data has a real history. Returns the version."""
    today = dt.date.today()
    version = (await service.lock(patient_id)).version
    for medicine in rng.sample(FORMULARY, rng.randint(3, 12)):
        result = await service.add_entry(patient_id, version, demo_entry(medicine, rng, today), SEED_ACTOR)
        version = result.medication_list.version
        if rng.random() < 0.12 and result.entry is not None:
            action = rng.choice([ChangeAction.STOP, ChangeAction.PAUSE])
            result = await service.change_status(
                patient_id, version, result.entry.id, action, reason="demo: seponert av lege",
                source=Source.GP, actor=SEED_ACTOR,
            )
            version = result.medication_list.version
    if rng.random() < 0.5:
        review = await service.mark_reviewed(patient_id, version, SEED_ACTOR, source=Source.GP, note=None)
        version = review.medication_list.version
    return version


async def seed_patients(
    database: Database, count: int, *, seed: int, max_entries: int, on_patient: Callable[[str], None]
) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not a secret
    patient_ids = []
    for _ in range(count):
        patient_id = demo_patient_id(rng)
        async with database.write_transaction() as session:
            service = MedicationListService(MedicationListRepository(session), ListLimits(max_entries, 500))
            if (await service.lock(patient_id)).version == 0:
                await seed_patient(service, patient_id, rng)
        patient_ids.append(patient_id)
        on_patient(patient_id)
    return patient_ids
