"""The medication list as a FHIR List (mode working) of MedicationStatement references.

An empty list has `emptyReason` nilknown, as issue 7 asks. At version 0 nobody has recorded anything, not even
a review, so that list also carries a note saying so, and no reviewed extension: a reader can tell "reviewed,
no medicines" from "never looked at". (FHIR's `notstarted` would say the latter in the code itself; see
docs/DECISIONS.md.)
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.list import List as FhirList

from api.fhir import naming
from api.fhir.ids import statement_id
from api.fhir.references import actor_reference, patient_reference
from pml.medication_list.schemas import MedicationList, ReviewedMarker

TITLE = "Pasientens legemiddelliste"


def _reviewed_extension(patient_id: str, reviewed: ReviewedMarker) -> dict[str, Any]:
    return {
        "url": naming.EXT_REVIEWED,
        "extension": [
            {"url": "by", "valueReference": actor_reference(reviewed.by, patient_id)},
            {"url": "at", "valueDateTime": reviewed.at},
            {"url": "version", "valueInteger": reviewed.version},
        ],
    }


EMPTY_REASON = {"coding": [{"system": naming.LIST_EMPTY_REASON, "code": "nilknown", "display": "Nil Known"}]}
NEVER_WRITTEN = (
    "Ingen har registrert noe på denne legemiddellisten ennå (versjon 0), heller ikke en gjennomgang."
)


def medication_list_resource(medication_list: MedicationList) -> FhirList:
    patient_id = medication_list.patient_id
    meta: dict[str, Any] = {"versionId": str(medication_list.version)}
    if medication_list.updated_at is not None:
        meta["lastUpdated"] = medication_list.updated_at
    resource: dict[str, Any] = {
        "resourceType": "List",
        "id": patient_id,
        "meta": meta,
        "status": "current",
        "mode": "working",
        "title": TITLE,
        "code": {
            "coding": [{"system": naming.LIST_CODE, "code": "medications", "display": "Medication List"}]
        },
        "subject": patient_reference(patient_id),
    }
    if medication_list.updated_at is not None:
        resource["date"] = medication_list.updated_at
    if medication_list.reviewed is not None:
        resource["extension"] = [_reviewed_extension(patient_id, medication_list.reviewed)]
    if medication_list.entries:
        resource["entry"] = [
            {"item": {"reference": f"MedicationStatement/{statement_id(patient_id, entry.id)}"}}
            for entry in medication_list.entries
        ]
    else:
        resource["emptyReason"] = EMPTY_REASON
        if medication_list.version == 0:
            resource["note"] = [{"text": NEVER_WRITTEN}]
    return FhirList.model_validate(resource)
