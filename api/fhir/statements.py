"""A list entry as a FHIR MedicationStatement, and a MedicationStatement back as the entry it states.

Status: active → active, paused → on-hold, stopped → stopped (statusReason carries the reason). Entry fields
that R4 MedicationStatement has no element for (source, strength, form, prescriber, last dispensed) travel in
PML extensions, so a read followed by an update changes nothing by accident.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.medicationstatement import MedicationStatement

from api.fhir import naming
from api.fhir.dosage import dosage_elements, dosage_parts
from api.fhir.ids import statement_id
from api.fhir.medication import medication_concept, product_from_concept
from api.fhir.references import patient_reference, practitioner_reference
from pml.errors import InvalidInput
from pml.medication_list.schemas import Entry, EntryStatus, Source

STATUS_TO_FHIR = {
    EntryStatus.ACTIVE: "active",
    EntryStatus.PAUSED: "on-hold",
    EntryStatus.STOPPED: "stopped",
}
STATUS_FROM_FHIR = {code: status for status, code in STATUS_TO_FHIR.items()}


class UnsupportedStatement(InvalidInput):
    problem_type = "fhir-unsupported-statement"
    title = "PML cannot store this MedicationStatement"


def _extensions(entry: Entry) -> list[dict[str, Any]]:
    values: list[tuple[str, str, Any]] = [
        (naming.EXT_ENTRY_SOURCE, "valueCode", entry.source.value),
        (naming.EXT_STRENGTH, "valueString", entry.strength),
        (naming.EXT_FORM, "valueString", entry.form),
        (naming.EXT_LAST_DISPENSED, "valueDate", entry.last_dispensed_on),
    ]
    extensions = [{"url": url, kind: value} for url, kind, value in values if value is not None]
    if entry.prescriber_hpr:
        prescriber = practitioner_reference(entry.prescriber_hpr)
        extensions.append({"url": naming.EXT_PRESCRIBER, "valueReference": prescriber})
    return extensions


def _optional_elements(entry: Entry) -> dict[str, Any]:
    elements: dict[str, Any] = {}
    if entry.status is not EntryStatus.ACTIVE and entry.status_reason:
        elements["statusReason"] = [{"text": entry.status_reason}]
    if entry.prescription_id:
        identifier = {"system": naming.PRESCRIPTION_ID, "value": entry.prescription_id}
        elements["basedOn"] = [{"type": "MedicationRequest", "identifier": identifier}]
    if entry.start_date or entry.end_date:
        period = {"start": entry.start_date, "end": entry.end_date}
        elements["effectivePeriod"] = {key: value for key, value in period.items() if value}
    if entry.asserted_at:
        elements["dateAsserted"] = entry.asserted_at
    if entry.indication:
        elements["reasonCode"] = [{"text": entry.indication}]
    if entry.note:
        elements["note"] = [{"text": entry.note}]
    dosage = dosage_elements(entry.dosage, entry.dose_text, entry.route)
    return elements | ({"dosage": dosage} if dosage else {})


def medication_statement(
    patient_id: str, entry: Entry, *, last_updated: dt.datetime | None = None
) -> MedicationStatement:
    meta: dict[str, Any] = {"versionId": str(entry.updated_version)}
    if last_updated is not None:
        meta["lastUpdated"] = last_updated
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": statement_id(patient_id, entry.id),
        "meta": meta,
        "extension": _extensions(entry),
        "identifier": [{"system": naming.URI, "value": f"urn:uuid:{entry.id}"}],
        "status": STATUS_TO_FHIR[entry.status],
        "medicationCodeableConcept": medication_concept(entry.product, entry.display_name),
        "subject": patient_reference(patient_id),
    }
    return MedicationStatement.model_validate(resource | _optional_elements(entry))


# -- MedicationStatement → entry -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatedEntry:
    """What a MedicationStatement says about an entry: its fields (as EntryChange keys) and its status."""

    fields: dict[str, Any]
    status: EntryStatus
    status_reason: str | None
    source: Source | None


_KNOWN_EXTENSIONS = {
    naming.EXT_ENTRY_SOURCE,
    naming.EXT_STRENGTH,
    naming.EXT_FORM,
    naming.EXT_LAST_DISPENSED,
    naming.EXT_PRESCRIBER,
}


def _extension_values(resource: MedicationStatement) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for extension in resource.extension or []:
        if extension.url not in _KNOWN_EXTENSIONS:
            raise UnsupportedStatement(f"extension {extension.url} is not one PML stores")
        if extension.url == naming.EXT_PRESCRIBER:
            identifier = extension.valueReference.identifier if extension.valueReference else None
            if identifier is None or identifier.system != naming.HPR_NUMBER:
                raise UnsupportedStatement("the prescriber extension names a practitioner by HPR number")
            values[extension.url] = identifier.value
        else:
            values[extension.url] = extension.valueCode or extension.valueString or extension.valueDate
    return values


def _status(resource: MedicationStatement) -> tuple[EntryStatus, str | None]:
    if resource.status not in STATUS_FROM_FHIR:
        codes = ", ".join(STATUS_FROM_FHIR)
        raise UnsupportedStatement(f"status '{resource.status}' is not one PML keeps ({codes})")
    reasons = [concept.text for concept in resource.statusReason or [] if concept.text]
    return STATUS_FROM_FHIR[resource.status], (reasons[0] if reasons else None)


def _refuse_unsupported(resource: MedicationStatement) -> None:
    unsupported = [
        name
        for name in (
            "medicationReference",
            "effectiveDateTime",
            "informationSource",
            "derivedFrom",
            "partOf",
            "context",
            "category",
            "reasonReference",
            "modifierExtension",
            "contained",
        )
        if getattr(resource, name, None)
    ]
    if unsupported:
        raise UnsupportedStatement(f"PML cannot store {', '.join(unsupported)}; leave them out")


def _prescription_id(resource: MedicationStatement) -> str | None:
    for reference in resource.basedOn or []:
        identifier = reference.identifier
        if identifier is None or identifier.system != naming.PRESCRIPTION_ID:
            raise UnsupportedStatement(f"basedOn names a prescription by identifier {naming.PRESCRIPTION_ID}")
        return str(identifier.value)
    return None


def _text(items: list[Any] | None) -> str | None:
    texts = [item.text for item in items or [] if item.text]
    if len(texts) > 1:
        raise UnsupportedStatement("PML keeps one indication and one note per entry")
    return texts[0] if texts else None


def stated_entry(resource: MedicationStatement) -> StatedEntry:
    """The entry fields a MedicationStatement states; refuses what PML cannot store rather than drop it."""
    _refuse_unsupported(resource)
    extensions = _extension_values(resource)
    if resource.medicationCodeableConcept is None:
        raise UnsupportedStatement("give the medicine as medicationCodeableConcept")
    product, display_name = product_from_concept(resource.medicationCodeableConcept)
    dosage = dosage_parts(resource.dosage or [])
    period = resource.effectivePeriod
    status, status_reason = _status(resource)
    fields: dict[str, Any] = {
        "product": product,
        "display_name": display_name,
        "dosage": dosage.dosage,
        "dose_text": dosage.dose_text,
        "route": dosage.route,
        "strength": extensions.get(naming.EXT_STRENGTH),
        "form": extensions.get(naming.EXT_FORM),
        "indication": _text(resource.reasonCode),
        "note": _text(resource.note),
        "start_date": period.start if period else None,
        "end_date": period.end if period else None,
        "asserted_at": resource.dateAsserted,
        "prescriber_hpr": extensions.get(naming.EXT_PRESCRIBER),
        "prescription_id": _prescription_id(resource),
        "last_dispensed_on": extensions.get(naming.EXT_LAST_DISPENSED),
    }
    source_code = extensions.get(naming.EXT_ENTRY_SOURCE)
    try:
        source = Source(source_code) if source_code else None
    except ValueError:
        raise UnsupportedStatement(f"entry-source '{source_code}' is not a PML source") from None
    return StatedEntry(fields, status, status_reason, source)
