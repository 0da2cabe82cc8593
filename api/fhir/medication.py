"""The product of a list entry as a FHIR CodeableConcept: every FEST reference PML has, and ATC, as codings;
the display name as text. The reverse refuses codings of systems PML cannot store."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.codeableconcept import CodeableConcept

from api.fhir import naming
from pml.errors import InvalidInput
from pml.medication_list.schemas import ProductRef

# ProductRef field ↔ coding system, most precise first.
PRODUCT_SYSTEMS: dict[str, str] = {
    "merkevare_id": naming.FEST_MERKEVARE,
    "varenr": naming.FEST_VARENUMMER,
    "virkestoff_id": naming.FEST_VIRKESTOFF,
    "atc": naming.ATC,
}
FIELD_BY_SYSTEM = {system: field for field, system in PRODUCT_SYSTEMS.items()}


class UnsupportedMedication(InvalidInput):
    problem_type = "fhir-unsupported-medication"
    title = "PML cannot store this medication coding"


def medication_concept(product: ProductRef, display_name: str) -> dict[str, Any]:
    codings = [
        {"system": system, "code": getattr(product, field)}
        for field, system in PRODUCT_SYSTEMS.items()
        if getattr(product, field)
    ]
    concept: dict[str, Any] = {"text": display_name}
    return ({"coding": codings} | concept) if codings else concept


def coded_values(concept: CodeableConcept) -> dict[str, str]:
    """ProductRef field → code, from the codings PML knows; other systems are refused."""
    values: dict[str, str] = {}
    for coding in concept.coding or []:
        field = FIELD_BY_SYSTEM.get(coding.system or "")
        if field is None:
            known = ", ".join(PRODUCT_SYSTEMS.values())
            raise UnsupportedMedication(f"coding system '{coding.system}' is not one PML stores ({known})")
        if not coding.code:
            raise UnsupportedMedication(f"the {coding.system} coding has no code")
        if field in values and values[field] != coding.code:
            raise UnsupportedMedication(f"two different codes of {coding.system}")
        values[field] = coding.code
    return values


def product_from_concept(concept: CodeableConcept) -> tuple[ProductRef, str]:
    """The ProductRef and display name a MedicationStatement's medicationCodeableConcept states."""
    if not concept.text:
        raise UnsupportedMedication("medicationCodeableConcept.text (the display name) is required")
    try:
        product = ProductRef(**coded_values(concept))
    except ValueError as error:
        raise UnsupportedMedication(f"a medication code is not valid: {error}") from None
    return product, concept.text
