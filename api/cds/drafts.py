"""Draft MedicationRequests (context.draftOrders) and a prefetched list as things to check.

A draft is checked by its most precise reference the active catalogue release knows (FEST merkevare id,
varenr, virkestoff id, then ATC); with no code, by its text, which the catalogue search resolves only when
unambiguous. Orders of other kinds (lab tests, procedures) in the same Bundle are not medication and are left
alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.medicationrequest import MedicationRequest
from pydantic import ValidationError

from api.fhir.medication import FIELD_BY_SYSTEM
from interactions.engine import CheckItem
from pml.catalogue.compiled import CompiledRelease
from pml.catalogue.schemas import CheckItemIn, ItemKind
from pml.errors import InvalidInput
from pml.medication_list.schemas import Entry, EntryStatus, MedicationList, ProductRef, Source

_KIND_BY_FIELD: dict[str, ItemKind] = {
    "merkevare_id": "product",
    "varenr": "varenr",
    "virkestoff_id": "substance",
    "atc": "atc",
}
_PRECISION = tuple(FIELD_BY_SYSTEM)  # the systems, most precise first


@dataclass(frozen=True, slots=True)
class Draft:
    """One draft medication order: its reference in the Bundle, what the prescriber sees, and what to
    check."""

    reference: str | None
    label: str
    item: CheckItemIn | None

    @property
    def key(self) -> tuple[str, str] | None:
        return (self.item.kind, self.item.value) if self.item else None


def _concept(request: MedicationRequest) -> CodeableConcept | None:
    if request.medicationCodeableConcept is not None:
        return request.medicationCodeableConcept
    reference = request.medicationReference.reference if request.medicationReference else None
    for contained in request.contained or []:
        if reference == f"#{contained.id}" and contained.get_resource_type() == "Medication":
            return contained.code  # type: ignore[attr-defined,no-any-return]
    return None


def _label(concept: CodeableConcept | None) -> str:
    if concept is None:
        return "ukjent legemiddel"
    displays = [coding.display for coding in concept.coding or [] if coding.display]
    return concept.text or (displays[0] if displays else "ukjent legemiddel")


def _best_item(compiled: CompiledRelease, concept: CodeableConcept, label: str) -> CheckItemIn | None:
    """The most precise coding the release knows; else the most precise coding (it comes back unresolved);
    else the text, resolved by name."""
    codes = {
        FIELD_BY_SYSTEM[c.system]: c.code
        for c in concept.coding or []
        if c.system in FIELD_BY_SYSTEM and c.code
    }
    ordered = [
        (_KIND_BY_FIELD[FIELD_BY_SYSTEM[s]], codes[FIELD_BY_SYSTEM[s]])
        for s in _PRECISION
        if FIELD_BY_SYSTEM[s] in codes
    ]
    for kind, value in ordered:
        normalised = value.strip().upper() if kind == "atc" else value.strip()
        if compiled.index.resolve(CheckItem(kind, normalised)) is not None:  # type: ignore[arg-type]
            return CheckItemIn(kind=kind, value=normalised, label=label)
    if ordered:
        return CheckItemIn(kind=ordered[0][0], value=ordered[0][1], label=label)
    return CheckItemIn(kind="name", value=label[:200], label=label) if concept.text else None


def drafts(compiled: CompiledRelease, draft_orders: dict[str, Any]) -> list[Draft]:
    try:
        bundle = Bundle.model_validate(draft_orders)
    except ValidationError as error:
        raise InvalidInput(
            "context.draftOrders is not a valid FHIR Bundle",
            errors=error.errors(include_url=False, include_input=False),
        ) from None
    found = []
    for entry in bundle.entry or []:
        resource = entry.resource
        if resource is None or resource.get_resource_type() != "MedicationRequest":
            continue
        concept = _concept(resource)  # type: ignore[arg-type]
        label = _label(concept)
        reference = f"MedicationRequest/{resource.id}" if resource.id else None
        item = _best_item(compiled, concept, label) if concept is not None else None
        found.append(Draft(reference, label, item))
    return found


def prefetched_list(patient_id: str, prefetch: dict[str, Any]) -> MedicationList | None:
    """The patient's list from `prefetch.medications` (a MedicationStatement search Bundle), or None when the
    client sent none. Only what a check needs is kept: product, name and status."""
    medications = prefetch.get("medications")
    if medications is None:
        return None
    try:
        bundle = Bundle.model_validate(medications)
        statements = [
            e.resource
            for e in bundle.entry or []
            if e.resource is not None and e.resource.get_resource_type() == "MedicationStatement"
        ]
        entries = [_prefetched_entry(statement) for statement in statements]
    except ValidationError as error:
        raise InvalidInput(
            f"prefetch.medications is not a MedicationStatement Bundle PML can read: {error}"
        ) from None
    return MedicationList(patient_id=patient_id, version=0, entries=[e for e in entries if e is not None])


def _prefetched_entry(statement: Any) -> Entry | None:
    """A stand-in entry for the check only (never stored, so its id and source carry no meaning). Codings of
    systems PML does not know are skipped here: a prefetched list may come from another FHIR server."""
    concept = statement.medicationCodeableConcept
    if concept is None or statement.status not in _STATUS:
        return None
    codes = {
        FIELD_BY_SYSTEM[c.system]: c.code
        for c in concept.coding or []
        if c.system in FIELD_BY_SYSTEM and c.code
    }
    return Entry(
        id=uuid.uuid4(),
        product=ProductRef(**codes),
        display_name=_label(concept)[:200],
        source=Source.GP,
        status=_STATUS[statement.status],
        created_version=0,
        updated_version=0,
    )


_STATUS = {"active": EntryStatus.ACTIVE, "on-hold": EntryStatus.PAUSED, "stopped": EntryStatus.STOPPED}
