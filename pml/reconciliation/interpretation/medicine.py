"""One comparable form for both sides of a reconciliation: a source entry as sent, and a list entry as stored.

Both go through the same resolver and the same strength and dose-text readers, so a comparison never depends
on which side a fact came from.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from interactions.frozen import slot_init
from interactions.search import ParsedQuery, normalise
from pml.medication_list.schemas import Entry, EntryStatus
from pml.reconciliation.interpretation.dose_text import DoseKind, DoseReading, read_dose_text, read_entry_dose
from pml.reconciliation.interpretation.resolver import MedicineRef, Resolution, Resolver
from pml.reconciliation.interpretation.strength import Strength
from pml.reconciliation.schemas import SnapshotEntry

_STOPPED_WORDS = ("sepon", "stopp", "avslutt", "discontinu", "stopped", "complet", "inactive", "ikke i bruk",
                  "utgått", "slutt")  # fmt: skip
_PAUSED_WORDS = ("pause", "midlertidig", "on-hold", "on hold", "holdes", "suspend")
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y", "%d/%m/%Y", "%Y%m%d")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def clear_name_caches() -> None:
    _normalised_name.cache_clear()
    _name_words.cache_clear()
    status_of.cache_clear()


@lru_cache(maxsize=8192)
def _normalised_name(name: str) -> str:
    return normalise(name)


@lru_cache(maxsize=8192)
def _name_words(name: str) -> str:
    return ParsedQuery.parse(name).name


@slot_init
@dataclass(frozen=True, slots=True)
class Medicine:
    """A medicine on one side of a reconciliation, interpreted."""

    key: str  # "source:3" or "entry:<uuid>"
    name: str
    resolution: Resolution
    dose: DoseReading
    status: EntryStatus
    source_index: int | None = None
    entry: Entry | None = None
    raw: SnapshotEntry | None = None
    dispensed_on: dt.date | None = None
    # What is worked out from this medicine once, however many matches and findings use it: its evidence views
    # (evidence.py) and the keys it can be matched under (matching.py).
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def strengths(self) -> frozenset[Strength]:
        return self.resolution.strengths

    @property
    def identified(self) -> bool:
        return self.resolution.identified

    @property
    def entry_id(self) -> uuid.UUID | None:
        return None if self.entry is None else self.entry.id

    @property
    def name_key(self) -> str:
        """The name as compared for free text: lower case, abbreviations spelled out, spacing normalised."""
        return _normalised_name(self.name)

    @property
    def name_words(self) -> str:
        """The name without numbers, units and form words, as names are compared for likeness."""
        return _name_words(self.name)

    @property
    def unit_strength(self) -> Strength | None:
        """The strength of one tablet (or capsule...) when the medicine has exactly one."""
        return next(iter(self.strengths)) if len(self.strengths) == 1 else None

    @property
    def as_needed(self) -> bool:
        summary = self.dose.summary
        return summary is not None and summary.kind is DoseKind.AS_NEEDED


@lru_cache(maxsize=1024)
def status_of(text: str | None) -> EntryStatus:
    """A source's status word in any of the ways systems write it; no word means active."""
    word = (text or "").strip().lower()
    if any(marker in word for marker in _STOPPED_WORDS):
        return EntryStatus.STOPPED
    if any(marker in word for marker in _PAUSED_WORDS):
        return EntryStatus.PAUSED
    return EntryStatus.ACTIVE


def parse_date(text: str | None) -> dt.date | None:
    """A date in ISO form or as Norwegian systems write it (dd.mm.yyyy); anything else is None."""
    if not text:
        return None
    stripped = text.strip()
    iso = _ISO_DATE.match(stripped)
    candidate = stripped[:10] if iso else stripped
    if iso and candidate.isascii():
        try:  # what the first format reads, without strptime's cost
            return dt.date.fromisoformat(candidate)
        except ValueError:
            pass
    for pattern in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(candidate, pattern).date()
        except ValueError:
            continue
    return None


def _display_name(entry: SnapshotEntry, resolution: Resolution) -> str:
    return (entry.name or "").strip() or resolution.product_name or "(entry without a name)"


def from_snapshot_entry(index: int, entry: SnapshotEntry, resolver: Resolver) -> Medicine:
    ref = MedicineRef(
        product_id=_clean(entry.product_id),
        varenr=_clean(entry.varenr),
        virkestoff_id=_clean(entry.virkestoff_id),
        atc=_clean(entry.atc, upper=True),
        name=_clean(entry.name),
        strength=_clean(entry.strength),
    )
    resolution = resolver.resolve(ref)
    return Medicine(
        key=f"source:{index}",
        name=_display_name(entry, resolution),
        resolution=resolution,
        dose=read_dose_text(entry.dose_text, default_unit=resolution.dose_unit),
        status=status_of(entry.status),
        source_index=index,
        raw=entry,
        dispensed_on=parse_date(entry.dispensed_on),
    )


def from_list_entry(entry: Entry, resolver: Resolver) -> Medicine:
    product = entry.product
    ref = MedicineRef(
        product_id=product.merkevare_id,
        varenr=product.varenr,
        virkestoff_id=product.virkestoff_id,
        atc=product.atc,
        name=entry.display_name,
        strength=entry.strength,
    )
    resolution = resolver.resolve(ref)
    return Medicine(
        key=f"entry:{entry.id}",
        name=entry.display_name,
        resolution=resolution,
        dose=read_entry_dose(entry.dose_text, entry.dosage, default_unit=resolution.dose_unit),
        status=entry.status,
        entry=entry,
    )


def _clean(text: str | None, *, upper: bool = False) -> str | None:
    if text is None or not text.strip():
        return None
    return text.strip().upper() if upper else text.strip()
