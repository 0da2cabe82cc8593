"""The list a write works on is the list as the lock finds it: one statement locks the header, reads the
entries and looks up the Idempotency-Key, and a writer that waited for another one's commit must not answer
from before it. Several writes in one transaction see each other without reading the list again."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api.v1.conditional import idempotent_write
from pml.db.engine import Database
from pml.medication_list.repository import MedicationListRepository
from pml.medication_list.schemas import ChangeAction, NewEntry, Source
from pml.medication_list.service import ListLimits, MedicationListService, current_list
from pml.seed.demo import SEED_ACTOR
from pml.settings import Settings
from tests.support.factories import entry_body, new_patient_id

LIMITS = ListLimits(max_entries=40, max_page_size=500)


def _service(session: AsyncSession) -> MedicationListService:
    return MedicationListService(MedicationListRepository(session), LIMITS)


def _new(name: str) -> NewEntry:
    return NewEntry.model_validate(entry_body(display_name=name))


def test_a_writer_that_waited_for_the_lock_sees_the_entries_the_other_committed(database_url: str) -> None:
    async def scenario() -> None:
        database = Database.from_settings(Settings(database_url=database_url), database_url)
        patient_id = new_patient_id()
        async with database.write_transaction() as session:
            await _service(session).add_entry(patient_id, 0, _new("first"), SEED_ACTOR)
        first_holds_lock, waiter_started = asyncio.Event(), asyncio.Event()

        async def first_writer() -> None:
            async with database.write_transaction() as session:
                await _service(session).add_entry(patient_id, 1, _new("second"), SEED_ACTOR)
                first_holds_lock.set()
                await waiter_started.wait()
                await asyncio.sleep(0.3)  # the waiter is now queued on the row lock

        async def waiting_writer() -> list[str]:
            await first_holds_lock.wait()
            async with database.write_transaction() as session:
                service = _service(session)
                waiter_started.set()
                header = await service.lock(patient_id)
                assert header.version == 2
                result = await service.add_entry(patient_id, 2, _new("third"), SEED_ACTOR)
                return [entry.display_name for entry in result.medication_list.entries]

        _, names = await asyncio.gather(first_writer(), waiting_writer())
        assert names == ["first", "second", "third"]
        async with database.read_statement() as connection:
            current = await current_list(connection, patient_id)
        assert [entry.display_name for entry in current.entries] == names
        await database.dispose()

    asyncio.run(scenario())


def test_writes_in_one_transaction_build_on_each_other_and_match_a_fresh_read(database_url: str) -> None:
    async def scenario() -> None:
        database = Database.from_settings(Settings(database_url=database_url), database_url)
        patient_id = new_patient_id()
        async with database.write_transaction() as session:
            service = _service(session)
            added = await service.add_entry(patient_id, 0, _new("kept"), SEED_ACTOR)
            paused = await service.add_entry(patient_id, 1, _new("paused"), SEED_ACTOR)
            assert paused.entry is not None
            await service.change_status(
                patient_id, 2, paused.entry.id, ChangeAction.PAUSE, reason=None, source=Source.GP,
                actor=SEED_ACTOR,
            )
            written = await service.mark_reviewed(patient_id, 3, SEED_ACTOR, source=Source.GP, note=None)
        assert added.medication_list.version == 1
        async with database.read_statement() as connection:
            fresh = await current_list(connection, patient_id)
        assert written.medication_list == fresh
        assert fresh.version == 4
        assert fresh.reviewed is not None
        assert fresh.reviewed.version == 4
        assert [entry.status.value for entry in fresh.entries] == ["active", "paused"]
        await database.dispose()

    asyncio.run(scenario())


def _add_request(patient_id: str, version: int, key: str) -> Request:
    headers = [(b"if-match", f'"{version}"'.encode()), (b"idempotency-key", key.encode())]
    path = f"/v1/patients/{patient_id}/medication-list/entries"
    return Request({"type": "http", "method": "POST", "path": path, "headers": headers, "query_string": b""})


def test_a_retry_queued_behind_its_original_gets_the_original_response(database_url: str) -> None:
    """The lock statement looks the Idempotency-Key up from a snapshot taken before it waited; the retry must
    still find the record its original committed meanwhile, and replay it rather than answer 412."""

    async def scenario() -> None:
        settings = Settings(database_url=database_url)
        database = Database.from_settings(settings, database_url)
        patient_id, key = new_patient_id(), "queued-retry-0001"
        async with database.write_transaction() as session:  # the list row exists: the retry waits on it
            await _service(session).add_entry(patient_id, 0, _new("before"), SEED_ACTOR)
        new = _new("once")
        original_holds_lock, retry_started = asyncio.Event(), asyncio.Event()

        async def add(service: MedicationListService, expected: int) -> Response:
            result = await service.add_entry(patient_id, expected, new, SEED_ACTOR)
            original_holds_lock.set()
            await retry_started.wait()
            await asyncio.sleep(0.3)  # the retry is now queued on the row lock
            return Response(result.medication_list.model_dump_json(), status_code=201)

        async def retry_add(service: MedicationListService, expected: int) -> Response:
            raise AssertionError("the retry must be answered from the stored response")

        async def retry() -> Response:
            await original_holds_lock.wait()
            retry_started.set()
            return await idempotent_write(
                _add_request(patient_id, 1, key), database=database, settings=settings,
                patient_id=patient_id, payload=new, operation=retry_add,
            )

        first, replayed = await asyncio.gather(
            idempotent_write(
                _add_request(patient_id, 1, key), database=database, settings=settings,
                patient_id=patient_id, payload=new, operation=add,
            ),
            retry(),
        )
        assert replayed.headers["idempotent-replayed"] == "true"
        assert replayed.status_code == first.status_code == 201
        assert replayed.body == first.body
        await database.dispose()

    asyncio.run(scenario())
