"""Events of the medication list, delivered to subscribers after their transaction commits."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ListVersionCommitted:
    patient_id: str
    version: int
