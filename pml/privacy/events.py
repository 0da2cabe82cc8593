"""Events of patient privacy, delivered to subscribers after their transaction commits."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BlocksChanged:
    patient_id: str
