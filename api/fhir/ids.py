"""Logical ids of the facade's resources. Every id starts with the patient's national id, so each read finds
its patient (for access control, audit and partitioning by patient) without a lookup across patients.

- List: `{patient_id}` — one working list per patient.
- MedicationStatement: `{patient_id}-{entry uuid}` — one per list entry (48 characters; FHIR allows 64).
- Provenance: `{patient_id}-{list version}` — one per change record.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from pml.errors import DomainError, NotFound

_STATEMENT_ID = re.compile(r"^(\d{11})-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_PROVENANCE_ID = re.compile(r"^(\d{11})-([1-9]\d{0,8})$")


class ResourceNotFound(NotFound):
    problem_type = "fhir-resource-not-found"
    title = "No such FHIR resource"


class BadFhirRequest(DomainError):
    """A search or request FHIR cannot answer as asked (FHIR answers these with 400)."""

    problem_type = "fhir-bad-request"
    title = "The FHIR request is not valid"
    status = 400


@dataclass(frozen=True, slots=True)
class StatementId:
    patient_id: str
    entry_id: uuid.UUID

    def __str__(self) -> str:
        return f"{self.patient_id}-{self.entry_id}"


@dataclass(frozen=True, slots=True)
class ProvenanceId:
    patient_id: str
    version: int

    def __str__(self) -> str:
        return f"{self.patient_id}-{self.version}"


def parse_statement_id(text: str) -> StatementId:
    match = _STATEMENT_ID.match(text.lower())
    if match is None:
        raise ResourceNotFound(f"MedicationStatement/{text[:80]} does not exist: ids are <patient id>-<uuid>")
    return StatementId(match.group(1), uuid.UUID(match.group(2)))


def parse_provenance_id(text: str) -> ProvenanceId:
    match = _PROVENANCE_ID.match(text)
    if match is None:
        raise ResourceNotFound(f"Provenance/{text[:80]} does not exist: ids are <patient id>-<list version>")
    return ProvenanceId(match.group(1), int(match.group(2)))


def parse_version_id(text: str) -> int:
    """A `_history/{vid}` segment: the list version, a positive integer."""
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise ResourceNotFound(f"version {text[:20]} does not exist")
    return int(text)


def statement_id(patient_id: str, entry_id: uuid.UUID) -> str:
    return str(StatementId(patient_id, entry_id))


def provenance_id(patient_id: str, version: int) -> str:
    return str(ProvenanceId(patient_id, version))
