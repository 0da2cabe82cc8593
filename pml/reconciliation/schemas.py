"""Reconciliation's domain types, shared by the service and the API.

Two different attitudes to input, on purpose:
- The snapshot *envelope* (source, kind, entries) is strict: unknown top-level fields are refused, sizes are
  bounded. A misspelt "sorce" must not silently become a snapshot of unknown origin.
- A snapshot *entry* is liberal: every field is optional, numbers are accepted where text is expected, and
  fields we do not know are kept (in the stored document) and ignored by interpretation. A source system
  writes what it writes; an entry we cannot interpret becomes a finding for a clinician, never a 422.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializationInfo, field_serializer, model_validator

from pml.medication_list.schemas import (
    Actor,
    EntryChange,
    EntryStatus,
    LongText,
    NewEntry,
    ShortText,
    Source,
    StrictModel,
)

MAX_SNAPSHOT_ENTRIES = 200
MAX_EXTRA_FIELDS_PER_ENTRY = 40
MAX_DECISIONS_PER_REQUEST = 200

LooseText = Annotated[str, Field(max_length=2000)]
LooseShortText = Annotated[str, Field(max_length=500)]


class SnapshotKind(StrEnum):
    MEDICATION_LIST = "medication_list"
    ADMISSION = "admission"
    DISCHARGE = "discharge"
    DISPENSING = "dispensing"


# Which kinds each source sends. A GP and home care send their whole current list; a hospital sends what it
# recorded at admission and what it decided at discharge; a pharmacy sends what it dispensed.
KINDS_OF_SOURCE: dict[Source, frozenset[SnapshotKind]] = {
    Source.GP: frozenset({SnapshotKind.MEDICATION_LIST}),
    Source.HOSPITAL: frozenset({SnapshotKind.ADMISSION, SnapshotKind.DISCHARGE}),
    Source.HOME_CARE: frozenset({SnapshotKind.MEDICATION_LIST}),
    Source.PHARMACY: frozenset({SnapshotKind.DISPENSING}),
}
# A complete snapshot says "this is everything": what it leaves out is a finding. A dispensing says only what
# was handed over today, so its silence about the rest of the list means nothing.
COMPLETE_KINDS = frozenset({SnapshotKind.MEDICATION_LIST, SnapshotKind.ADMISSION, SnapshotKind.DISCHARGE})


class SnapshotEntry(BaseModel):
    """One medicine as the source system wrote it. Everything is optional; extra fields are kept."""

    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)

    product_id: LooseShortText | None = Field(default=None, description="FEST LegemiddelMerkevare Id")
    varenr: LooseShortText | None = Field(default=None, description="FEST package number (pharmacy)")
    virkestoff_id: LooseShortText | None = None
    atc: LooseShortText | None = None
    name: LooseShortText | None = Field(
        default=None, description="the name as typed, e.g. 'Paracet 500mg tab'"
    )
    strength: LooseShortText | None = Field(default=None, description="e.g. '500 mg', '2,5 mg', '50 mg/5 ml'")
    form: LooseShortText | None = None
    route: LooseShortText | None = None
    dose_text: LooseText | None = Field(default=None, description="e.g. '1+0+1', '2 tabletter morgen'")
    status: LooseShortText | None = Field(
        default=None, description="e.g. active/aktiv, stopped/seponert, pausert"
    )
    status_reason: LooseText | None = None
    indication: LooseShortText | None = None
    start_date: LooseShortText | None = None
    end_date: LooseShortText | None = None
    dispensed_on: LooseShortText | None = Field(default=None, description="dispensing date (pharmacy)")
    quantity: LooseShortText | None = None
    prescription_id: LooseShortText | None = None
    prescriber_hpr: LooseShortText | None = None
    note: LooseText | None = None

    @model_validator(mode="after")
    def _bounded_extras(self) -> SnapshotEntry:
        if len(self.model_extra or {}) > MAX_EXTRA_FIELDS_PER_ENTRY:
            raise ValueError(
                f"an entry may carry at most {MAX_EXTRA_FIELDS_PER_ENTRY} fields PML does not use"
            )
        return self


class SnapshotSubmission(StrictModel):
    """A source system's current view of the patient's medicines."""

    source: Source
    kind: SnapshotKind
    sent_at: dt.datetime | None = Field(default=None, description="when the source system produced it")
    sender_system: ShortText | None = Field(
        default=None, description="e.g. 'DIPS Arena', 'Infodoc', 'Gerica'"
    )
    document_id: ShortText | None = Field(default=None, description="the source's own id for this document")
    entries: list[SnapshotEntry] = Field(max_length=MAX_SNAPSHOT_ENTRIES)

    @model_validator(mode="after")
    def _kind_fits_source(self) -> SnapshotSubmission:
        allowed = KINDS_OF_SOURCE.get(self.source)
        if allowed is None:
            raise ValueError(f"'{self.source.value}' does not submit snapshots")
        if self.kind not in allowed:
            kinds = ", ".join(sorted(k.value for k in allowed))
            raise ValueError(f"a {self.source.value} snapshot is one of: {kinds}")
        return self


class SnapshotRecord(StrictModel):
    """A stored snapshot: what was received, verbatim, and who sent it."""

    id: uuid.UUID
    patient_id: str
    source: Source
    kind: SnapshotKind
    actor: Actor
    received_at: dt.datetime
    sent_at: dt.datetime | None
    sender_system: str | None
    document_id: str | None
    entry_count: int
    sha256: str = Field(description="of the request body exactly as received")
    document: dict[str, Any] | None = Field(default=None, description="the body as received (parsed JSON)")


# -- findings ------------------------------------------------------------------------------------------


class FindingClass(StrEnum):
    UNCHANGED = "unchanged"
    NEW_IN_SOURCE = "new_in_source"
    MISSING_IN_SOURCE = "missing_in_source"
    DOSE_CHANGED = "dose_changed"
    STATUS_CONFLICT = "status_conflict"
    DUPLICATE_THERAPY = "duplicate_therapy"
    UNRESOLVED_FREE_TEXT = "unresolved_free_text"


class FindingState(StrEnum):
    OPEN = "open"  # waits for a clinician
    INFORMATIONAL = "informational"  # nothing to decide (e.g. unchanged)
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EDITED = "edited"
    AUTO_APPLIED = "auto_applied"
    SUPERSEDED = "superseded"  # no longer true of the list, or replaced by a newer snapshot


DECIDED_STATES = frozenset(
    {FindingState.ACCEPTED, FindingState.REJECTED, FindingState.EDITED, FindingState.AUTO_APPLIED}
)


class MatchRule(StrEnum):
    """How a source entry was tied to a list entry, most certain first."""

    SAME_PRODUCT = "same_product"
    SAME_SUBSTANCE_AND_STRENGTH = "same_substance_and_strength"
    SAME_SUBSTANCE = "same_substance"
    SAME_FREE_TEXT = "same_free_text"
    FUZZY_NAME = "fuzzy_name"


class Certainty(StrEnum):
    CERTAIN = "certain"
    UNCERTAIN = "uncertain"  # shown as a possible match; never merged


class AddEntryAction(StrictModel):
    kind: Literal["add_entry"] = "add_entry"
    entry: NewEntry


class ChangeEntryAction(StrictModel):
    kind: Literal["change_entry"] = "change_entry"
    entry_id: uuid.UUID
    change: EntryChange

    @field_serializer("change")
    def _only_the_fields_it_changes(self, change: EntryChange, info: SerializationInfo) -> dict[str, Any]:
        """An EntryChange means what it sets: an omitted field keeps its value, an explicit null clears it.
        Serialised in full, every omitted field would come back as an explicit null and clear the entry; so
        only the fields it sets are written (stored, answered and fingerprinted alike)."""
        return change.model_dump(mode=info.mode, exclude_unset=True)


class StopEntryAction(StrictModel):
    kind: Literal["stop_entry"] = "stop_entry"
    entry_id: uuid.UUID
    reason: LongText


class PauseEntryAction(StrictModel):
    kind: Literal["pause_entry"] = "pause_entry"
    entry_id: uuid.UUID
    reason: LongText | None = None


class ResumeEntryAction(StrictModel):
    kind: Literal["resume_entry"] = "resume_entry"
    entry_id: uuid.UUID
    reason: LongText | None = None


class RecordDispensingAction(StrictModel):
    kind: Literal["record_dispensing"] = "record_dispensing"
    entry_id: uuid.UUID
    dispensed_on: dt.date


ProposedAction = Annotated[
    AddEntryAction
    | ChangeEntryAction
    | StopEntryAction
    | PauseEntryAction
    | ResumeEntryAction
    | RecordDispensingAction,
    Field(discriminator="kind"),
]


class CandidateView(StrictModel):
    product_id: str
    name: str
    score: float


class StrengthConflictView(StrictModel):
    """The entry's strength field and its name state different strengths (each as written)."""

    strength_field: str
    name: str


class ResolutionView(StrictModel):
    """How an entry was tied to the catalogue, for the clinician to judge."""

    method: str = Field(description="product_id, varenr, virkestoff_id, atc, name, conflict or none")
    substances: list[str] = Field(default_factory=list, description="substance names")
    substance_ids: list[str] = Field(default_factory=list)
    atc: str | None = None
    product_id: str | None = None
    product_name: str | None = None
    strengths: list[str] = Field(default_factory=list)
    score: float | None = None
    candidates: list[CandidateView] = Field(default_factory=list)
    note: str | None = None
    strength_conflict: StrengthConflictView | None = Field(
        default=None, description="the strength field read as the strength, though the name states another"
    )


class DoseView(StrictModel):
    text: str | None
    understood_as: str | None = None
    by_chart: bool = False


class SourceEntryView(StrictModel):
    index: int = Field(description="position of the entry in the snapshot")
    name: str
    as_sent: dict[str, Any]
    status: EntryStatus
    dose: DoseView
    resolution: ResolutionView


class ListEntryView(StrictModel):
    entry_id: uuid.UUID
    display_name: str
    strength: str | None
    status: EntryStatus
    dose: DoseView
    updated_version: int
    resolution: ResolutionView


class MatchView(StrictModel):
    rule: MatchRule
    certainty: Certainty
    score: float | None = None


class RelatedView(StrictModel):
    """Another entry the finding concerns: the other half of a duplicate, or a possible match."""

    role: Literal["duplicate_of", "possible_match"]
    name: str
    entry_id: uuid.UUID | None = None
    source_index: int | None = None
    score: float | None = None


class Evidence(StrictModel):
    source_entry: SourceEntryView | None = None
    list_entry: ListEntryView | None = None
    match: MatchView | None = None
    related: list[RelatedView] = Field(default_factory=list)
    differences: list[str] = Field(default_factory=list)


class Finding(StrictModel):
    id: uuid.UUID
    proposal_id: uuid.UUID
    finding_class: FindingClass
    state: FindingState
    needs_review: bool = Field(
        description="the match is not certain: a clinician must look, nothing is merged"
    )
    summary: str
    source_entry_index: int | None
    list_entry_id: uuid.UUID | None
    action: ProposedAction | None = Field(description="the list change accepting this finding makes")
    evidence: Evidence
    computed_at_version: int
    decision_id: uuid.UUID | None = None


class ProposalStatus(StrEnum):
    OPEN = "open"  # findings wait for decisions
    CLOSED = "closed"  # nothing left to decide
    SUPERSEDED = "superseded"  # a newer snapshot of the same source and kind replaced it
    FAILED = "failed"  # the snapshot could not be interpreted; it is stored and can be retried


class ProposalSummary(StrictModel):
    id: uuid.UUID
    patient_id: str
    snapshot_id: uuid.UUID
    source: Source
    kind: SnapshotKind
    status: ProposalStatus
    list_version: int = Field(description="the list version the findings were computed against")
    catalogue_release: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    superseded_by: uuid.UUID | None = None
    error: str | None = None
    counts: dict[str, int] = Field(description="findings per class (superseded ones left out)")
    open_findings: int


class Proposal(ProposalSummary):
    findings: list[Finding]


class OpenProposals(StrictModel):
    patient_id: str
    proposals: list[ProposalSummary]


class InterpretationStatus(StrEnum):
    PROPOSED = "proposed"
    DEFERRED = "deferred"  # no catalogue active: stored, to be reconciled later
    FAILED = "failed"


class SubmissionOutcome(StrictModel):
    snapshot: SnapshotRecord
    interpretation: InterpretationStatus
    detail: str | None = None
    proposal: Proposal | None = None


# -- decisions -----------------------------------------------------------------------------------------


class DecisionKind(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    EDIT = "edit"
    AUTO = "auto"  # applied by the configured policy, not by a person


class FindingDecision(StrictModel):
    finding_id: uuid.UUID
    decision: Literal[DecisionKind.ACCEPT, DecisionKind.REJECT, DecisionKind.EDIT]
    edited_action: ProposedAction | None = Field(
        default=None, description="for 'edit': the list change to make instead of the proposed one"
    )
    note: LongText | None = None

    @model_validator(mode="after")
    def _edit_has_action(self) -> FindingDecision:
        if (self.decision == DecisionKind.EDIT) != (self.edited_action is not None):
            raise ValueError("give edited_action with 'edit', and only with 'edit'")
        return self


class DecisionRequest(StrictModel):
    decisions: list[FindingDecision] = Field(min_length=1, max_length=MAX_DECISIONS_PER_REQUEST)

    @model_validator(mode="after")
    def _each_finding_once(self) -> DecisionRequest:
        ids = [d.finding_id for d in self.decisions]
        if len(ids) != len(set(ids)):
            raise ValueError("decide each finding at most once per request")
        return self


class DecisionRecord(StrictModel):
    id: uuid.UUID
    patient_id: str
    proposal_id: uuid.UUID
    finding_id: uuid.UUID
    snapshot_id: uuid.UUID
    decision: DecisionKind
    finding_class: FindingClass
    action: ProposedAction | None = Field(description="the list change made; none for a rejection")
    actor: Actor
    policy: str | None = None
    note: str | None = None
    decided_at: dt.datetime
    list_version_before: int
    list_version_after: int


class DecisionHistory(StrictModel):
    patient_id: str
    decisions: list[DecisionRecord]
    next_before: dt.datetime | None = Field(default=None, description="pass as `before` for the next page")
