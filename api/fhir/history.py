"""Versions and history read through the list service: the change records are the versions.

A MedicationStatement's versionId is the list version at which its entry last changed, so each of its versions
is one change record; the List's versions are the list versions; each change record is one Provenance.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from fastapi import Request
from fhir.resources.R4B.bundle import Bundle

from api.fhir import bundles
from api.fhir.ids import BadFhirRequest, ResourceNotFound, StatementId, parse_statement_id
from api.fhir.lists import medication_list_resource
from api.fhir.provenance import provenance_resource
from api.fhir.statements import medication_statement
from pml.medication_list.schemas import ChangeRecord, Entry
from pml.medication_list.service import MedicationListService

# Change records read per round trip while looking for one entry's changes.
SCAN_PAGE = 100


async def change_at(service: MedicationListService, patient_id: str, version: int) -> ChangeRecord:
    """The change record that made `version`; 404 when the list never had it."""
    page = await service.history(patient_id, before_version=version + 1, limit=1)
    if version < 1 or not page.changes or page.changes[0].version != version:
        raise ResourceNotFound(
            f"the list is at version {page.current_version}; version {version} does not exist"
        )
    return page.changes[0]


async def changes_newest_first(
    service: MedicationListService,
    patient_id: str,
    *,
    count: int,
    before: int | None,
    entry_id: uuid.UUID | None = None,
) -> tuple[list[ChangeRecord], int | None]:
    """Up to `count` change records below version `before` (of one entry, if given), newest first, and the
    `before` of the next page (None on the last page)."""
    found: list[ChangeRecord] = []
    cursor = before
    while True:
        page = await service.history(patient_id, before_version=cursor, limit=SCAN_PAGE)
        found += [c for c in page.changes if entry_id is None or c.entry_id == entry_id][: count - len(found)]
        if len(found) == count:
            return found, (found[-1].version if found[-1].version > 1 else None)
        if page.next_before_version is None:
            return found, None
        cursor = page.next_before_version


def _page_params(request: Request, next_before: int | None, count: int) -> dict[str, str] | None:
    if next_before is None:
        return None
    params = {key: value for key, value in request.query_params.items() if key not in ("before", "_count")}
    return params | {"_count": str(count), "before": str(next_before)}


async def list_history(
    request: Request, service: MedicationListService, patient_id: str, *, count: int, before: int | None
) -> Bundle:
    changes, next_before = await changes_newest_first(service, patient_id, count=count, before=before)
    entries = []
    for change in changes:
        past = await service.at_version(patient_id, change.version)
        resource = medication_list_resource(past)
        entries.append(
            bundles.history_entry(request, resource, created=change.version == 1, modified=change.recorded_at)
        )
    return bundles.history(request, entries, _page_params(request, next_before, count))


async def current_entry(service: MedicationListService, ids: StatementId) -> tuple[Entry, dt.datetime]:
    """The entry behind a MedicationStatement now, and when its version was recorded."""
    current = await service.current(ids.patient_id)
    entry = next((e for e in current.entries if e.id == ids.entry_id), None)
    if entry is None:
        raise ResourceNotFound(f"MedicationStatement/{ids} does not exist")
    change = await change_at(service, ids.patient_id, entry.updated_version)
    return entry, change.recorded_at


async def statement_change(service: MedicationListService, ids: StatementId, version: int) -> ChangeRecord:
    """The change record that made version `version` of the entry; 404 if that version is not the entry's."""
    change = await change_at(service, ids.patient_id, version)
    if change.entry_id != ids.entry_id or change.after is None:
        raise ResourceNotFound(f"MedicationStatement/{ids} has no version {version}")
    return change


async def statement_history(
    request: Request, service: MedicationListService, ids: StatementId, *, count: int, before: int | None
) -> Bundle:
    changes, next_before = await changes_newest_first(
        service, ids.patient_id, count=count, before=before, entry_id=ids.entry_id
    )
    if not changes and before is None:
        raise ResourceNotFound(f"MedicationStatement/{ids} does not exist")
    entries = [
        bundles.history_entry(
            request,
            medication_statement(ids.patient_id, change.after, last_updated=change.recorded_at),
            created=change.after.created_version == change.version,
            modified=change.recorded_at,
        )
        for change in changes
        if change.after is not None
    ]
    return bundles.history(request, entries, _page_params(request, next_before, count))


@dataclass(frozen=True, slots=True)
class ProvenanceSearch:
    patient_id: str
    entry_id: uuid.UUID | None

    @classmethod
    def parse(cls, *, patient: str | None, target: str | None) -> ProvenanceSearch:
        if (patient is None) == (target is None):
            raise BadFhirRequest("search Provenance by exactly one of patient or target")
        if patient is not None:
            return cls(patient.removeprefix("Patient/"), None)
        assert target is not None
        kind, _, resource_id = target.partition("/")
        if kind == "List":
            return cls(resource_id, None)
        if kind == "MedicationStatement":
            ids = parse_statement_id(resource_id)
            return cls(ids.patient_id, ids.entry_id)
        raise BadFhirRequest("target must be List/<id> or MedicationStatement/<id>")


async def provenance_search(
    request: Request,
    service: MedicationListService,
    search: ProvenanceSearch,
    *,
    count: int,
    before: int | None,
) -> Bundle:
    changes, next_before = await changes_newest_first(
        service, search.patient_id, count=count, before=before, entry_id=search.entry_id
    )
    resources = [provenance_resource(search.patient_id, change) for change in changes]
    return bundles.searchset(request, resources, next_params=_page_params(request, next_before, count))
