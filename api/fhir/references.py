"""References to the people and organisations behind a list: by national identifier, since PML serves no
Patient, Practitioner or Organization resources of its own."""

from __future__ import annotations

from typing import Any

from api.fhir import naming
from pml.medication_list.schemas import Actor
from pml.national_id import parse_national_id


def patient_reference(patient_id: str) -> dict[str, Any]:
    kind = parse_national_id(patient_id, allow_synthetic=True).kind
    return {
        "type": "Patient",
        "identifier": {"system": naming.NATIONAL_ID_SYSTEMS[kind], "value": patient_id},
    }


def practitioner_reference(hpr_number: str, display: str | None = None) -> dict[str, Any]:
    reference: dict[str, Any] = {
        "type": "Practitioner",
        "identifier": {"system": naming.HPR_NUMBER, "value": hpr_number},
    }
    return reference | ({"display": display} if display else {})


def organisation_reference(organisation_number: str) -> dict[str, Any]:
    return {
        "type": "Organization",
        "identifier": {"system": naming.ORGANISATION_NUMBER, "value": organisation_number},
    }


def actor_reference(actor: Actor, patient_id: str) -> dict[str, Any]:
    """The person or system that made a change: a practitioner by HPR number, the patient, or a client id."""
    if actor.hpr_number:
        return practitioner_reference(actor.hpr_number, actor.name)
    if actor.role == "patient":
        return patient_reference(patient_id) | {"display": actor.name or "pasienten"}
    reference: dict[str, Any] = {
        "type": "Device",
        "identifier": {"system": naming.CLIENT_ID, "value": actor.subject},
    }
    return reference | ({"display": actor.name} if actor.name else {})
