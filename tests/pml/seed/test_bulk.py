"""Bulk seeding writes what the service would have written: the materialised list equals the list rebuilt
from history, versions count the changes, stored JSON validates against the service's schemas, the service
can write on top of it, entries name catalogue products and real interaction pairs, a re-run adds nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest

from pml.catalogue.checking import check_patient
from pml.catalogue.compiled import CompiledRelease, compile_release
from pml.catalogue.repository import ReleaseRepository
from pml.catalogue.schemas import PatientCheckRequest
from pml.catalogue.service import CatalogueService
from pml.db.engine import Database
from pml.db.urls import libpq_url
from pml.medication_list.repository import MedicationListRepository
from pml.medication_list.schemas import ChangeRecord, MedicationList, NewEntry, Source
from pml.medication_list.service import ListLimits, MedicationListService
from pml.seed.bulk import BulkOutcome, active_catalogue_choices, build_patient, bulk_seed, patient_ids
from pml.seed.demo import SEED_ACTOR
from pml.settings import Environment, Settings

SEED = 4242
PATIENTS = 300
T = TypeVar("T")


@pytest.fixture(scope="module")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("bulk")
    return Settings(environment=Environment.TEST, database_url=database_url, data_dir=data_dir)


@pytest.fixture(scope="module")
def seeded(settings: Settings, database_url: str, catalogue_release_id: str) -> BulkOutcome:
    # Two worker processes and small batches: the order-preserving pipeline is what 100,000 patients use.
    return bulk_seed(settings, database_url, count=PATIENTS, seed=SEED, batch_size=64, workers=2)


def _with_service(settings: Settings, url: str, call: Callable[[MedicationListService], Awaitable[T]]) -> T:
    async def run() -> T:
        database = Database.from_settings(settings, url)
        try:
            async with database.write_transaction() as session:
                service = MedicationListService(MedicationListRepository(session), ListLimits(300, 500))
                return await call(service)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _sample() -> list[str]:
    return list(patient_ids(PATIENTS, SEED))[::15]


def test_every_patient_is_created_with_its_history(seeded: BulkOutcome, database_url: str) -> None:
    assert seeded.created == PATIENTS
    assert seeded.catalogue_release is not None
    with psycopg.connect(libpq_url(database_url)) as conn:
        mismatched = conn.execute(
            """SELECT count(*) FROM patient_list p
               JOIN (SELECT patient_id, count(*) AS n, max(version) AS last
                     FROM list_change GROUP BY patient_id) c USING (patient_id)
               JOIN list_change latest ON latest.patient_id = p.patient_id AND latest.version = p.version
               WHERE p.patient_id = ANY(%s)
                 AND (p.version <> c.n OR p.version <> c.last OR p.updated_at <> latest.recorded_at)""",
            (list(patient_ids(PATIENTS, SEED)),),
        ).fetchone()
    assert mismatched == (0,)


def test_the_materialised_list_equals_the_list_rebuilt_from_history(
    seeded: BulkOutcome, settings: Settings, database_url: str
) -> None:
    async def compare(service: MedicationListService) -> list[tuple[MedicationList, MedicationList]]:
        pairs = []
        for patient_id in _sample():
            current = await service.current(patient_id)
            pairs.append((current, await service.at_version(patient_id, current.version)))
        return pairs

    for current, rebuilt in _with_service(settings, database_url, compare):
        assert current.entries == rebuilt.entries
        assert current.reviewed == rebuilt.reviewed
        assert current.updated_at == rebuilt.updated_at
        assert 3 <= len(current.entries) <= 12


def test_the_history_validates_and_rises_in_time(
    seeded: BulkOutcome, settings: Settings, database_url: str
) -> None:
    async def history(service: MedicationListService) -> list[list[ChangeRecord]]:
        return [
            (await service.changes_since(patient_id, 0, limit=500)).changes for patient_id in _sample()
        ]

    for changes in _with_service(settings, database_url, history):
        times = [change.recorded_at for change in changes]
        assert times == sorted(times)
        assert len(set(times)) == len(times)
        assert [change.version for change in changes] == list(range(1, len(changes) + 1))


def test_the_service_writes_on_top_of_a_seeded_list(
    seeded: BulkOutcome, settings: Settings, database_url: str
) -> None:
    patient_id = _sample()[0]
    new = NewEntry(display_name="Paracet tablett 500 mg", source=Source.GP, reason="bulk test")

    async def write(service: MedicationListService) -> tuple[int, int]:
        version = (await service.current(patient_id)).version
        result = await service.add_entry(patient_id, version, new, SEED_ACTOR)
        return version, result.medication_list.version

    before, after = _with_service(settings, database_url, write)
    assert after == before + 1


async def _compiled_release(settings: Settings, url: str) -> CompiledRelease:
    database = Database.from_settings(settings, url)
    try:
        async with database.read_transaction() as session:
            catalogue = CatalogueService(ReleaseRepository(session))
            release = await catalogue.active_release()
            assert release is not None
            return compile_release(release, await catalogue.records(release))
    finally:
        await database.dispose()


def test_entries_name_catalogue_products_and_real_interaction_pairs(
    seeded: BulkOutcome, settings: Settings, database_url: str
) -> None:
    compiled = asyncio.run(_compiled_release(settings, database_url))

    async def lists(service: MedicationListService) -> list[MedicationList]:
        return [await service.current(p) for p in list(patient_ids(PATIENTS, SEED))[:100]]

    current = _with_service(settings, database_url, lists)
    assert sum(1 for lst in current for entry in lst.entries if entry.product.merkevare_id) > 0
    with_findings = [lst for lst in current if check_patient(compiled, lst, PatientCheckRequest()).findings]
    assert len(with_findings) >= 10  # about a third carry a pair; relevans 3 pairs stay silent


def test_a_rerun_with_the_same_seed_adds_nothing(
    seeded: BulkOutcome, settings: Settings, database_url: str
) -> None:
    again = bulk_seed(settings, database_url, count=PATIENTS, seed=SEED, batch_size=100, workers=0)
    assert again.created == 0
    assert again.sample_patients == seeded.sample_patients


def test_same_seed_same_entries(seeded: BulkOutcome, settings: Settings, database_url: str) -> None:
    patient_id = _sample()[1]
    choices = active_catalogue_choices(settings, database_url, SEED)
    planned = build_patient(patient_id, SEED, choices, dt.datetime.now(dt.UTC), settings.max_list_entries)
    with psycopg.connect(libpq_url(database_url)) as conn:
        query = "SELECT entry_id FROM list_entry WHERE patient_id = %s"
        stored = conn.execute(query, (patient_id,)).fetchall()
    assert {row[0] for row in stored} == {row[1] for row in planned.entries}
