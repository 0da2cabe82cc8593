"""Turn a match result into findings: each with a class, the evidence and the list change accepting it makes.

Classes: unchanged, new in source, missing in source, dose changed, status conflict, duplicate therapy (two
entries of the same substance), unresolved free text. A finding whose match is not certain carries
`needs_review`; nothing uncertain is ever merged.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from interactions.frozen import slot_init
from pml.medication_list.schemas import EntryStatus, Source
from pml.reconciliation.evidence import (
    SnapshotContext,
    constructed,
    dose_change_from,
    entry_view,
    new_entry_from,
    source_view,
    strength_text,
)
from pml.reconciliation.interpretation.dose_text import same_regimen
from pml.reconciliation.interpretation.medicine import Medicine
from pml.reconciliation.matching import MatchResult, Pairing, Relation, substance_relation
from pml.reconciliation.schemas import (
    COMPLETE_KINDS,
    AddEntryAction,
    ChangeEntryAction,
    Evidence,
    FindingClass,
    FindingState,
    ListEntryView,
    MatchView,
    PauseEntryAction,
    ProposedAction,
    RecordDispensingAction,
    RelatedView,
    ResumeEntryAction,
    SnapshotKind,
    SourceEntryView,
    StopEntryAction,
)

# What accepting "missing in source" does, by source and kind. A GP list or a discharge that leaves a medicine
# out means it was stopped (accepting stops it); an admission record or a home-care list that leaves one out
# more likely missed it, so the finding only asks for attention.
_MISSING_STOPS = frozenset(
    {(Source.GP, SnapshotKind.MEDICATION_LIST), (Source.HOSPITAL, SnapshotKind.DISCHARGE)}
)


# A drafted finding's id until classify gives every finding of the snapshot its random id at once.
_NO_ID = uuid.UUID(int=0)


@slot_init
@dataclass(frozen=True, slots=True)
class DraftFinding:
    """A finding before it is stored: the class, what it rests on and what accepting it would change."""

    finding_class: FindingClass
    summary: str
    evidence: Evidence
    action: ProposedAction | None
    needs_review: bool = False
    source_index: int | None = None
    list_entry_id: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def state(self) -> FindingState:
        # "Unchanged" that needs review (an entry contradicting its own strength) is for a clinician to see.
        if self.finding_class is FindingClass.UNCHANGED and self.action is None and not self.needs_review:
            return FindingState.INFORMATIONAL
        return FindingState.OPEN

    @property
    def fingerprint(self) -> str:
        """The same finding computed again (same class, same entries, same proposed change) has the same
        fingerprint; re-evaluation uses it to keep finding ids and decisions stable."""
        action = self.action.model_dump(mode="json") if self.action else None
        key = [
            self.finding_class.value,
            self.source_index,
            str(self.list_entry_id),
            self.needs_review,
            action,
        ]
        return hashlib.sha256(orjson.dumps(key, option=orjson.OPT_SORT_KEYS)).hexdigest()


_SET_FINDING_ID = DraftFinding.__dict__["id"].__set__


def classify(context: SnapshotContext, result: MatchResult, entries: list[Medicine]) -> list[DraftFinding]:
    """All findings of one snapshot against one list, in a stable order: source entries first, then the
    list."""
    findings = [_paired(context, pair) for pair in result.pairs]
    findings.extend(_unmatched_sources(context, result))
    if context.kind in COMPLETE_KINDS:
        findings.extend(_unmatched_entries(context, result, entries))
    for finding, finding_id in zip(findings, random_uuids(len(findings)), strict=True):
        _SET_FINDING_ID(finding, finding_id)  # drafted with _NO_ID; nothing has seen them yet
    return sorted(findings, key=_order)


# Random (version 4) ids for a whole classification from one os.urandom call: uuid4 draws 16 bytes per id
# with a system call each and validates its arguments (about 1.3 µs an id; this, about 0.4 µs). An id is
# set through the UUID's slots, as UUID(int=...) sets them, with the version and variant bits of uuid4.
_SET_UUID_INT, _SET_UUID_SAFE = (uuid.UUID.__dict__[slot].__set__ for slot in ("int", "is_safe"))
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_BITS = (0x8000 << 48) | (4 << 76)


def random_uuids(count: int) -> list[uuid.UUID]:
    """`count` random version-4 UUIDs, as uuid.UUID(bytes=os.urandom(16), version=4) makes each."""
    pool = os.urandom(16 * count)
    ids = []
    for start in range(0, 16 * count, 16):
        value = object.__new__(uuid.UUID)
        _SET_UUID_INT(value, int.from_bytes(pool[start : start + 16]) & _UUID4_CLEAR | _UUID4_BITS)
        _SET_UUID_SAFE(value, uuid.SafeUUID.unknown)
        ids.append(value)
    return ids


def _order(finding: DraftFinding) -> tuple[int, int, str]:
    side = 0 if finding.source_index is not None else 1
    return side, finding.source_index or 0, str(finding.list_entry_id)


def _match_view(pair: Pairing) -> MatchView:
    return constructed(MatchView, rule=pair.rule, certainty=pair.certainty, score=pair.score)


def _pair_evidence(pair: Pairing, differences: list[str] | None = None) -> Evidence:
    views = source_view(pair.source), entry_view(pair.entry), _match_view(pair)
    return _evidence(*views, [], differences or [])


def _evidence(
    source: SourceEntryView | None,
    entry: ListEntryView | None,
    match_view: MatchView | None,
    related: list[RelatedView],
    differences: list[str],
) -> Evidence:
    """Evidence from views already built (not validated again)."""
    return constructed(
        Evidence,
        source_entry=source,
        list_entry=entry,
        match=match_view,
        related=related,
        differences=differences,
    )


def _draft(
    finding_class: FindingClass,
    summary: str,
    evidence: Evidence,
    action: ProposedAction | None,
    source: Medicine | None,
    entry: Medicine | None,
    *,
    needs_review: bool = False,
) -> DraftFinding:
    contradictions = _strength_contradictions(source, entry)
    if contradictions:
        summary = f"{summary}; {'; '.join(contradictions)}"
        evidence = _evidence(
            evidence.source_entry,
            evidence.list_entry,
            evidence.match,
            evidence.related,
            [*evidence.differences, *contradictions],
        )
        needs_review = True
    return DraftFinding(
        finding_class,
        summary,
        evidence,
        action,
        needs_review,
        source.source_index if source else None,
        entry.entry_id if entry else None,
        _NO_ID,
    )


def _strength_contradictions(source: Medicine | None, entry: Medicine | None) -> list[str]:
    """Each side whose strength field and name state different strengths. The strength field was read, but a
    record that contradicts itself is not certain of either, so the finding must not pass as certain."""
    found = []
    for side, medicine in (("the source", source), ("the list entry", entry)):
        conflict = medicine.resolution.strength_conflict if medicine is not None else None
        if conflict is not None:
            found.append(f"{side} disagrees with itself about strength: {conflict.describe()}")
    return found


# -- matched pairs ------------------------------------------------------------------------------------


def _paired(context: SnapshotContext, pair: Pairing) -> DraftFinding:
    conflict = _status_conflict(context, pair)
    if conflict is not None:
        return conflict
    source, entry = pair.source, pair.entry
    differences = [] if entry.status is EntryStatus.STOPPED else _dose_differences(pair)
    if differences:
        reason = f"dose per {context.label}"
        change = dose_change_from(source, entry, context, reason)
        assert entry.entry_id is not None
        uncertain = any(d.startswith("dose text could not be compared") for d in differences)
        return _draft(
            FindingClass.DOSE_CHANGED,
            f"{source.name}: {'; '.join(differences)}",
            _pair_evidence(pair, differences),
            ChangeEntryAction(entry_id=entry.entry_id, change=change),
            source,
            entry,
            needs_review=uncertain,
        )
    return _draft(
        FindingClass.UNCHANGED,
        f"{source.name}: as on the list ({entry.name})",
        _pair_evidence(pair),
        _dispensing_action(context, pair),
        source,
        entry,
    )


def _dispensing_action(context: SnapshotContext, pair: Pairing) -> RecordDispensingAction | None:
    """A dispensing of an active entry records its date, unless the list already has it or a later one."""
    entry = pair.entry.entry
    if context.kind is not SnapshotKind.DISPENSING or entry is None or entry.status is not EntryStatus.ACTIVE:
        return None
    dispensed_on = pair.source.dispensed_on or context.as_of.date()
    if entry.last_dispensed_on is not None and entry.last_dispensed_on >= dispensed_on:
        return None
    return RecordDispensingAction(entry_id=entry.id, dispensed_on=dispensed_on)


def _status_conflict(context: SnapshotContext, pair: Pairing) -> DraftFinding | None:
    source, entry = pair.source, pair.entry
    entry_id = entry.entry_id
    assert entry_id is not None
    said, listed = source.status, entry.status
    if said is listed or (said is not EntryStatus.ACTIVE and listed is EntryStatus.STOPPED):
        return None
    summary = f"{source.name}: {said.value} in the {context.label}, {listed.value} on the list"
    action: ProposedAction | None
    if context.kind is SnapshotKind.DISPENSING:
        action = (
            None  # a pharmacy handed over a medicine the list has stopped or paused: a prescriber must look
        )
        summary = f"{source.name}: dispensed, but {listed.value} on the list"
    elif said is EntryStatus.STOPPED:
        action = StopEntryAction(entry_id=entry_id, reason=_reason(source, f"stopped per {context.label}"))
    elif said is EntryStatus.PAUSED:
        action = PauseEntryAction(entry_id=entry_id, reason=_reason(source, f"paused per {context.label}"))
    elif listed is EntryStatus.PAUSED:
        action = ResumeEntryAction(entry_id=entry_id, reason=f"in use per {context.label}")
    else:  # active in the source, stopped on the list: a stopped entry is never revived, a new one is added
        action = AddEntryAction(entry=new_entry_from(source, context, f"restarted per {context.label}"))
    return _draft(
        FindingClass.STATUS_CONFLICT, summary, _pair_evidence(pair, [summary]), action, source, entry
    )


def _reason(source: Medicine, fallback: str) -> str:
    stated = source.raw.status_reason if source.raw else None
    return f"{fallback}: {stated.strip()[:1500]}" if stated and stated.strip() else fallback


def _dose_differences(pair: Pairing) -> list[str]:
    source, entry = pair.source, pair.entry
    differences: list[str] = []
    if source.strengths and entry.strengths and source.strengths != entry.strengths:
        differences.append(
            f"strength {strength_text(entry)} on the list, {strength_text(source)} in the source"
        )
    if source.dose.text and source.dose.text.strip() and (entry.dose.text or entry.dose.summary):
        same = same_regimen(source.dose, entry.dose, strengths=(source.unit_strength, entry.unit_strength))
        if same is False:
            differences.append(
                f"dose '{_dose_label(entry)}' on the list, '{_dose_label(source)}' in the source"
            )
        elif same is None:
            differences.append(
                f"dose text could not be compared: '{_dose_label(entry)}' on the list, "
                f"'{_dose_label(source)}' in the source"
            )
    return differences


def _dose_label(medicine: Medicine) -> str:
    if medicine.dose.text:
        return medicine.dose.text
    return medicine.dose.summary.describe() if medicine.dose.summary else "?"


# -- source entries the list does not have ------------------------------------------------------------


def _unmatched_sources(context: SnapshotContext, result: MatchResult) -> Iterator[DraftFinding]:
    seen: list[Medicine] = [pair.source for pair in result.pairs]
    for source in result.unmatched_source:
        possible = result.possible_for(source)
        related = [_related_possible(possible.entry, possible.score)] if possible else []
        if source.status is not EntryStatus.ACTIVE:
            if not source.identified and related:  # "stopped", of something that may be on the list
                yield _unresolved(context, source, related)
            continue  # stopped or paused in the source and not on the list: nothing to reconcile
        if not source.identified:
            yield _unresolved(context, source, related)
            continue
        duplicate = _duplicate_of(source, seen)
        seen.append(source)
        if duplicate is not None:
            yield _source_duplicate(context, source, duplicate)
            continue
        action = AddEntryAction(entry=new_entry_from(source, context, f"added per {context.label}"))
        summary = f"{source.name}: in the {context.label}, not on the list"
        evidence = _evidence(source_view(source), None, None, related, [])
        yield _draft(
            FindingClass.NEW_IN_SOURCE, summary, evidence, action, source, None, needs_review=bool(related)
        )


def _related_possible(other: Medicine, score: float | None) -> RelatedView:
    return RelatedView(
        role="possible_match",
        name=other.name,
        entry_id=other.entry_id,
        source_index=other.source_index,
        score=score,
    )


def _unresolved(context: SnapshotContext, source: Medicine, related: list[RelatedView]) -> DraftFinding:
    note = source.resolution.note or "no catalogue medicine matched the name with certainty"
    summary = f"{source.name}: could not be tied to the catalogue ({note})"
    action = (
        AddEntryAction(entry=new_entry_from(source, context, f"added as free text per {context.label}"))
        if source.status is EntryStatus.ACTIVE
        else None
    )
    evidence = _evidence(source_view(source), None, None, related, [note])
    return _draft(
        FindingClass.UNRESOLVED_FREE_TEXT, summary, evidence, action, source, None, needs_review=True
    )


def _duplicate_of(medicine: Medicine, others: list[Medicine]) -> Medicine | None:
    """Another medicine of the same substance taken the same way (a regular and an as-needed paracetamol are
    a common, deliberate pair, not a duplicate)."""
    return next(
        (
            other
            for other in others
            if other is not medicine
            and other.status is not EntryStatus.STOPPED
            and substance_relation(medicine.resolution, other.resolution) is Relation.SAME
            and other.as_needed == medicine.as_needed
        ),
        None,
    )


def _source_duplicate(context: SnapshotContext, source: Medicine, other: Medicine) -> DraftFinding:
    substance = ", ".join(source.resolution.substance_names) or source.resolution.atc or "the same substance"
    summary = f"{source.name}: a second {substance} product in the {context.label} (besides {other.name})"
    related = [
        RelatedView(
            role="duplicate_of", name=other.name, entry_id=other.entry_id, source_index=other.source_index
        )
    ]
    evidence = _evidence(source_view(source), None, None, related, [summary])
    return _draft(FindingClass.DUPLICATE_THERAPY, summary, evidence, None, source, None)


# -- list entries the source does not have ------------------------------------------------------------


def _unmatched_entries(
    context: SnapshotContext, result: MatchResult, entries: list[Medicine]
) -> Iterator[DraftFinding]:
    matched = [pair.entry for pair in result.pairs]
    for entry in result.unmatched_entries:
        if entry.status is EntryStatus.STOPPED:
            continue
        entry_id = entry.entry_id
        assert entry_id is not None
        duplicate = _duplicate_of(entry, matched)
        if duplicate is not None:
            yield _list_duplicate(context, entry, duplicate)
            continue
        possible = result.possible_for(entry)
        related = [_related_possible(possible.source, possible.score)] if possible else []
        action = (
            StopEntryAction(entry_id=entry_id, reason=f"not in the {context.label}")
            if (context.source, context.kind) in _MISSING_STOPS
            else None
        )
        summary = f"{entry.name}: on the list, not in the {context.label}"
        evidence = _evidence(None, entry_view(entry), None, related, [])
        yield _draft(
            FindingClass.MISSING_IN_SOURCE, summary, evidence, action, None, entry, needs_review=bool(related)
        )


def _list_duplicate(context: SnapshotContext, entry: Medicine, kept: Medicine) -> DraftFinding:
    entry_id = entry.entry_id
    assert entry_id is not None
    substance = ", ".join(entry.resolution.substance_names) or entry.resolution.atc or "the same substance"
    summary = (
        f"{entry.name}: a second {substance} entry on the list; the {context.label} has only {kept.name}"
    )
    action = StopEntryAction(entry_id=entry_id, reason=f"duplicate of {kept.name[:150]}; per {context.label}")
    related = [RelatedView(role="duplicate_of", name=kept.name, entry_id=kept.entry_id)]
    evidence = _evidence(None, entry_view(entry), None, related, [summary])
    return _draft(FindingClass.DUPLICATE_THERAPY, summary, evidence, action, None, entry)
