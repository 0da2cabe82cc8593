"""Typed keyword-only factories for test data: patients and medication list entries."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from pml.national_id import IdKind, make_national_id

_rng = random.Random()  # test data, not a secret


def new_patient_id(*, kind: IdKind = IdKind.SYNTHETIC) -> str:
    """A valid national id no other test uses (so tests sharing a server never see each other's lists)."""
    birth = dt.date(1930, 1, 1) + dt.timedelta(days=_rng.randint(0, 365 * 90))
    return make_national_id(birth, kind=kind, rng=_rng)


def entry_body(
    *,
    display_name: str = "Metformin tablett 500 mg",
    atc: str | None = "A10BA02",
    strength: str | None = "500 mg",
    source: str = "gp",
    dose_text: str | None = "1 tablett morgen og kveld",
    morning: float | None = 1,
    evening: float | None = 1,
    start_date: str | None = "2026-01-05",
    end_date: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    schedule = [
        {"time_of_day": time, "amount": amount}
        for time, amount in (("morning", morning), ("evening", evening))
        if amount
    ]
    body: dict[str, Any] = {
        "product": {"atc": atc} if atc else {},
        "display_name": display_name,
        "strength": strength,
        "form": "tablett",
        "dose_text": dose_text,
        "dosage": {"unit": "tablett", "schedule": schedule} if schedule else None,
        "start_date": start_date,
        "end_date": end_date,
        "prescriber_hpr": "9144889",
        "source": source,
    }
    return {k: v for k, v in body.items() if v is not None} | extra
