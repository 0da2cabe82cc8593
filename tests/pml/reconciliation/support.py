"""Builders for reconciliation tests: snapshot bodies as sources send them, list entries, and a session-bound
service. Nothing here is clinical data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from pml.db.engine import Database
from pml.medication_list.repository import MedicationListRepository
from pml.medication_list.schemas import Actor, ChangeAction, Entry, MedicationList, NewEntry, Source
from pml.medication_list.service import ListLimits, MedicationListService
from pml.reconciliation.interpretation.resolver import Resolver
from pml.reconciliation.policy import DEFAULT_AUTO_APPLY, AutoApplyPolicy
from pml.reconciliation.repository import ReconciliationRepository
from pml.reconciliation.schemas import SnapshotSubmission
from pml.reconciliation.service import ReconciliationService

CLINICIAN = Actor(
    subject="test-lege", name="Test Lege", hpr_number="9144889", role="prescriber", organisation="974703300"
)
PHARMACIST = Actor(
    subject="test-farmasoyt", hpr_number="1234567", role="pharmacist", organisation="974703301"
)
SENT_AT = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def snapshot_body(source: str, kind: str, entries: list[dict[str, Any]], **extra: Any) -> bytes:
    """A snapshot as a source system would send it, as raw JSON bytes."""
    body = {"source": source, "kind": kind, "sent_at": SENT_AT.isoformat(), "entries": entries} | extra
    return orjson.dumps(body)


def submission(raw: bytes) -> SnapshotSubmission:
    return SnapshotSubmission.model_validate_json(raw)


def list_entry(
    display_name: str,
    *,
    atc: str | None = None,
    strength: str | None = None,
    dose_text: str | None = None,
    **extra: Any,
) -> NewEntry:
    product = {"atc": atc} if atc else {}
    return NewEntry.model_validate(
        {
            "display_name": display_name,
            "product": product,
            "strength": strength,
            "dose_text": dose_text,
            "source": "gp",
        }
        | extra
    )


def lists_of(session: Any) -> MedicationListService:
    return MedicationListService(
        MedicationListRepository(session), ListLimits(max_entries=100, max_page_size=100)
    )


def service_of(session: Any, resolver: Resolver | None, *, auto_apply: bool = True) -> ReconciliationService:
    policy = AutoApplyPolicy.of(DEFAULT_AUTO_APPLY if auto_apply else ())
    return ReconciliationService(
        ReconciliationRepository(session), lists_of(session), resolver=resolver, policy=policy
    )


async def build_list(
    database: Database, patient_id: str, *entries: NewEntry, stopped: tuple[int, ...] = ()
) -> list[Entry]:
    """Write entries to the patient's list (and stop those whose positions are given)."""
    added = []
    async with database.write_transaction() as session:
        lists = lists_of(session)
        version = (await lists.lock(patient_id)).version
        for entry in entries:
            result = await lists.add_entry(patient_id, version, entry, CLINICIAN)
            version = result.medication_list.version
            assert result.entry is not None
            added.append(result.entry)
        for position in stopped:
            result = await lists.change_status(
                patient_id,
                version,
                added[position].id,
                ChangeAction.STOP,
                reason="earlier",
                source=Source.GP,
                actor=CLINICIAN,
            )
            version = result.medication_list.version
    return added


async def current_list(database: Database, patient_id: str) -> MedicationList:
    async with database.read_transaction() as session:
        return await lists_of(session).current(patient_id)
