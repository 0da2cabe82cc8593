"""Evidence views: what a clinician is shown about each side of a finding, and the entry changes a finding
proposes, built from the interpreted medicines. Nothing here decides anything."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pml.medication_list.schemas import EntryChange, NewEntry, ProductRef, Source
from pml.reconciliation.interpretation.medicine import Medicine, parse_date
from pml.reconciliation.interpretation.resolver import Resolution
from pml.reconciliation.interpretation.strength import written_strengths
from pml.reconciliation.schemas import (
    CandidateView,
    DoseView,
    Evidence,
    ListEntryView,
    MatchView,
    ResolutionView,
    SnapshotKind,
    SourceEntryView,
    StrengthConflictView,
)

_ATC = re.compile(r"^[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?$")
_VARENR = re.compile(r"^\d{6}$")
_HPR = re.compile(r"^\d{4,9}$")
SHORT, LONG = 200, 2000


@dataclass(frozen=True, slots=True)
class SnapshotContext:
    """What every finding of one snapshot shares."""

    source: Source
    kind: SnapshotKind
    as_of: dt.datetime  # when the source said it: sent_at, else received_at
    # "gp medication list of 2026-11-20", in most findings' summaries and reasons: written once.
    label: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        label = f"{self.source.value} {self.kind.value.replace('_', ' ')} of {self.as_of.date().isoformat()}"
        object.__setattr__(self, "label", label)


# Views are built from values already typed and checked, for every finding of every reconciliation, so they
# are constructed without validating them again; they are validated when read back.

ViewT = TypeVar("ViewT", bound=BaseModel)

# The setters of the four slots every pydantic model instance has, taken once: setting through them costs less
# than object.__setattr__'s look-up by name, on the hot path of every finding.
_SET_DICT, _SET_FIELDS_SET, _SET_EXTRA, _SET_PRIVATE = (
    BaseModel.__dict__[slot].__set__
    for slot in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
)


def constructed(model: type[ViewT], **fields: Any) -> ViewT:
    """The instance `model.model_construct(**fields)` builds, given every field of a plain model (no aliases,
    no extras, no post-init, no __new__ of its own: checked below at import). model_construct looks up aliases
    and defaults field by field (about 1.8 µs a view here); this sets what it would set and nothing else
    (about 0.6 µs), for the five or so views of every finding."""
    instance = object.__new__(model)
    _SET_DICT(instance, fields)
    _SET_FIELDS_SET(instance, set(fields))
    _SET_EXTRA(instance, None)
    _SET_PRIVATE(instance, None)
    return instance


def _plainly_constructible(*models: type[BaseModel]) -> None:
    """Refuse, at import, a view model `constructed` would build differently from model_construct."""
    for model in models:
        aliased = any(f.alias or f.validation_alias for f in model.__pydantic_fields__.values())
        extras = model.model_config.get("extra") == "allow"
        special = (
            model.__pydantic_post_init__
            or model.__pydantic_root_model__
            or model.__new__ is not object.__new__
        )
        if aliased or extras or special:
            raise TypeError(f"{model.__name__} cannot be built by `constructed`; use model_construct")


_plainly_constructible(
    CandidateView,
    DoseView,
    Evidence,
    ListEntryView,
    MatchView,
    ResolutionView,
    SourceEntryView,
    StrengthConflictView,
)


@lru_cache(maxsize=8192)
def resolution_view(resolution: Resolution) -> ResolutionView:
    """Cached: a resolution is immutable and the resolver hands out the same one for the same name."""
    return constructed(
        ResolutionView,
        method=resolution.method.value,
        substances=list(resolution.substance_names),
        substance_ids=sorted(resolution.substances),
        atc=resolution.atc,
        product_id=resolution.product_id,
        product_name=resolution.product_name,
        strengths=sorted(map(str, resolution.strengths)),
        score=resolution.score,
        candidates=[
            constructed(CandidateView, product_id=c.product_id, name=c.name, score=c.score)
            for c in resolution.candidates
        ],
        note=resolution.note,
        strength_conflict=_strength_conflict_view(resolution),
    )


def _strength_conflict_view(resolution: Resolution) -> StrengthConflictView | None:
    conflict = resolution.strength_conflict
    if conflict is None:
        return None
    return constructed(StrengthConflictView, strength_field=conflict.in_field, name=conflict.in_name)


def dose_view(medicine: Medicine) -> DoseView:
    summary = medicine.dose.summary
    return constructed(
        DoseView,
        text=medicine.dose.text,
        understood_as=summary.describe() if summary else None,
        by_chart=medicine.dose.by_chart,
    )


def source_view(medicine: Medicine) -> SourceEntryView:
    if "source" not in medicine.derived:
        medicine.derived["source"] = _source_view(medicine)
    view: SourceEntryView = medicine.derived["source"]
    return view


def entry_view(medicine: Medicine) -> ListEntryView:
    if "entry" not in medicine.derived:
        medicine.derived["entry"] = _entry_view(medicine)
    view: ListEntryView = medicine.derived["entry"]
    return view


def _source_view(medicine: Medicine) -> SourceEntryView:
    assert medicine.raw is not None
    assert medicine.source_index is not None
    return constructed(
        SourceEntryView,
        index=medicine.source_index,
        name=medicine.name,
        as_sent=medicine.raw.model_dump(exclude_none=True),
        status=medicine.status,
        dose=dose_view(medicine),
        resolution=resolution_view(medicine.resolution),
    )


def _entry_view(medicine: Medicine) -> ListEntryView:
    assert medicine.entry is not None
    entry = medicine.entry
    return constructed(
        ListEntryView,
        entry_id=entry.id,
        display_name=entry.display_name,
        strength=entry.strength,
        status=entry.status,
        dose=dose_view(medicine),
        updated_version=entry.updated_version,
        resolution=resolution_view(medicine.resolution),
    )


def strength_text(medicine: Medicine) -> str | None:
    """The strength as the source wrote it (in its strength field or in the name), else as resolved."""
    if medicine.raw is not None and medicine.raw.strength:
        return _short(medicine.raw.strength)
    if medicine.entry is not None:
        return medicine.entry.strength
    in_name = written_strengths(medicine.name)
    if in_name:
        return _short("/".join(in_name))
    return ", ".join(sorted(str(s) for s in medicine.strengths)) or None


def _short(text: str | None, limit: int = SHORT) -> str | None:
    text = (text or "").strip()
    return text[:limit] if text else None


def product_ref(resolution: Resolution, raw_varenr: str | None) -> ProductRef:
    single = next(iter(resolution.substances)) if len(resolution.substances) == 1 else None
    return ProductRef(
        merkevare_id=resolution.product_id
        if resolution.product_id and len(resolution.product_id) <= 64
        else None,
        varenr=raw_varenr.strip() if raw_varenr and _VARENR.match(raw_varenr.strip()) else None,
        virkestoff_id=single if single and len(single) <= 64 else None,
        atc=resolution.atc if resolution.atc and _ATC.match(resolution.atc) else None,
    )


def new_entry_from(medicine: Medicine, context: SnapshotContext, reason: str) -> NewEntry:
    """The list entry a source entry becomes when a clinician accepts it: what the source said, valid or left
    out (a malformed date is dropped, never guessed)."""
    raw = medicine.raw
    assert raw is not None
    start, end = parse_date(raw.start_date), parse_date(raw.end_date)
    fields: dict[str, Any] = {
        "product": product_ref(medicine.resolution, raw.varenr),
        "display_name": _short(medicine.name) or "(entry without a name)",
        "strength": strength_text(medicine),
        "form": _short(raw.form),
        "dosage": medicine.dose.dosage,
        "dose_text": _short(raw.dose_text, LONG),
        "route": _short(raw.route),
        "indication": _short(raw.indication),
        "start_date": start,
        "end_date": end if end and (start is None or end >= start) else None,
        "prescriber_hpr": raw.prescriber_hpr
        if raw.prescriber_hpr and _HPR.match(raw.prescriber_hpr)
        else None,
        "source": context.source,
        "asserted_at": context.as_of,
        "prescription_id": _short(raw.prescription_id),
        "note": _short(raw.note, LONG),
        "reason": _short(reason, LONG),
    }
    try:
        return NewEntry.model_validate(fields)
    except ValidationError:  # keep what is certainly valid
        return NewEntry.model_validate(
            {k: fields[k] for k in ("product", "display_name", "source", "reason")}
        )


def dose_change_from(source: Medicine, entry: Medicine, context: SnapshotContext, reason: str) -> EntryChange:
    """Take over the source's strength and dose; the product too when the source named another one."""
    raw = source.raw
    assert raw is not None
    assert entry.entry is not None
    fields: dict[str, Any] = {"reason": _short(reason, LONG), "source": context.source}
    if source.strengths and source.strengths != entry.strengths:
        fields["strength"] = strength_text(source)
        if source.resolution.product_id and source.resolution.product_id != entry.resolution.product_id:
            fields["product"] = product_ref(source.resolution, raw.varenr)
            fields["display_name"] = _short(source.name)
    if raw.dose_text and raw.dose_text.strip():
        fields["dose_text"] = _short(raw.dose_text, LONG)
        fields["dosage"] = source.dose.dosage  # None clears a structured dosage the new text no longer fits
    if source.dispensed_on is not None:
        fields["last_dispensed_on"] = source.dispensed_on
    return EntryChange.model_validate(fields)
