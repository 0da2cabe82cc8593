"""Interaction checks against the compiled active release: an ad-hoc set, or a patient's list plus proposals.

What is checked, and how each thing is understood, is reported back: items the release does not know are
listed as unresolved (never silently "no interaction"), and free-text names are resolved only when the
search is unambiguous (one best match, or several that all have the same ATC code).

A patient's list entry is checked as precisely as the release allows: its merkevare id, else its varenr,
else its virkestoff id, else its ATC code. Entries without any catalogue reference are not guessed from
their display name: a wrong guess would report interactions the patient does not have, or hide real ones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from interactions.engine import CheckItem, CheckResult, Finding, MatchedSide
from interactions.model import Product
from pml.catalogue.compiled import CompiledRelease
from pml.catalogue.lookups import product_summary
from pml.catalogue.schemas import (
    RELEVANS_TEXT,
    SOURCE_BASIS_TEXT,
    CheckItemIn,
    CheckOptions,
    CheckResultOut,
    DuplicationOut,
    FindingOut,
    ItemKind,
    ItemOut,
    MatchedSideOut,
    NotAssessedOut,
    PatientCheckRequest,
    PatientCheckResultOut,
    ReferenceOut,
    ResolvedNameOut,
    UnresolvedOut,
)
from pml.medication_list.schemas import Entry, EntryStatus, MedicationList
from pml.metrics import INTERACTION_CHECKS, INTERACTION_FINDINGS

# A name resolves to a product only when the best match is this good ...
NAME_MIN_SCORE = 90.0
# ... and no match of another substance (ATC) scores within this margin of it.
NAME_RIVAL_MARGIN = 5.0
NAME_CANDIDATES = 5

ItemKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Occurrence:
    """One place an item came from: a list entry, a proposed addition, or an ad-hoc request item."""

    label: str
    entry_id: uuid.UUID | None = None
    proposed: bool = False


@dataclass(slots=True)
class _Plan:
    """The items of one check, where each came from, and what could not be resolved."""

    compiled: CompiledRelease
    items: dict[ItemKey, CheckItem] = field(default_factory=dict)
    occurrences: dict[ItemKey, list[_Occurrence]] = field(default_factory=dict)
    unresolved: list[UnresolvedOut] = field(default_factory=list)
    resolved_names: list[ResolvedNameOut] = field(default_factory=list)

    def add(self, item: CheckItem, occurrence: _Occurrence) -> None:
        key = (item.kind, item.value)
        self.items.setdefault(key, item)
        self.occurrences.setdefault(key, []).append(occurrence)

    def add_request_item(self, requested: CheckItemIn, *, proposed: bool) -> None:
        label = requested.label or requested.value
        if requested.kind == "name":
            self._add_name(requested.value, label, proposed)
        else:
            self.add(CheckItem(requested.kind, _normalised(requested.kind, requested.value), label),
                     _Occurrence(label, proposed=proposed))  # fmt: skip

    def _add_name(self, name: str, label: str, proposed: bool) -> None:
        found, candidates = resolve_name(self.compiled, name)
        if found is None:
            reason = "no catalogue product matches this name" if not candidates else "the name is ambiguous"
            self.unresolved.append(
                UnresolvedOut(kind="name", value=name, label=label, proposed=proposed, reason=reason,
                              candidates=[product_summary(p) for p in candidates])
            )  # fmt: skip
            return
        product, score = found
        self.resolved_names.append(ResolvedNameOut(name=name, product=product_summary(product), score=score))
        self.add(CheckItem.product(product.id, label), _Occurrence(label, proposed=proposed))

    def add_entry(self, entry: Entry) -> None:
        references = _entry_references(entry)
        known = next((item for item in references if self.compiled.index.resolve(item) is not None), None)
        occurrence = _Occurrence(entry.display_name, entry_id=entry.id)
        if known is not None:
            self.add(known, occurrence)
            return
        kind: ItemKind
        if references:
            kind, value = references[0].kind, references[0].value
            reason = f"catalogue release {self.compiled.release_id} does not know this product"
        else:
            kind, value = "name", entry.display_name
            reason = "the entry names no merkevare id, varenr, virkestoff id or ATC code"
        self.unresolved.append(
            UnresolvedOut(
                kind=kind, value=value, label=entry.display_name, entry_ids=[entry.id], reason=reason
            )
        )


def _normalised(kind: str, value: str) -> str:
    value = value.strip()
    return value.upper() if kind == "atc" else value


def _entry_references(entry: Entry) -> list[CheckItem]:
    """The entry's catalogue references, most precise first."""
    ref = entry.product
    label = entry.display_name
    candidates = [
        CheckItem.product(ref.merkevare_id, label) if ref.merkevare_id else None,
        CheckItem.varenr(ref.varenr, label) if ref.varenr else None,
        CheckItem.substance(ref.virkestoff_id, label) if ref.virkestoff_id else None,
        CheckItem.atc(ref.atc, label) if ref.atc else None,
    ]
    return [item for item in candidates if item is not None]


def resolve_name(compiled: CompiledRelease, name: str) -> tuple[tuple[Product, float] | None, list[Product]]:
    """The product a free-text name stands for, if the search is sure; else the candidates to choose from."""
    hits = compiled.search.candidates(name, limit=NAME_CANDIDATES)
    if not hits:
        return None, []
    best, score = hits[0]
    rivals = [p for p, s in hits[1:] if s >= score - NAME_RIVAL_MARGIN and p.atc != best.atc]
    if score >= NAME_MIN_SCORE and not rivals:
        return (best, score), []
    return None, [product for product, _score in hits]


# -- rendering -----------------------------------------------------------------------------------------------


class _Renderer:
    """Turns the engine's result into the API's, naming the list entries behind every item."""

    def __init__(self, plan: _Plan, result: CheckResult) -> None:
        self._plan = plan
        self._result = result

    def item(self, item: CheckItem) -> ItemOut:
        occurrences = self._plan.occurrences[(item.kind, item.value)]
        return ItemOut(
            kind=item.kind,
            value=item.value,
            label=occurrences[0].label,
            entry_ids=[o.entry_id for o in occurrences if o.entry_id is not None],
            proposed=any(o.proposed for o in occurrences),
        )

    def occurrences(self, item: CheckItem) -> list[ItemOut]:
        """One ItemOut per place the item came from (for duplications: each entry separately)."""
        return [
            ItemOut(kind=item.kind, value=item.value, label=o.label,
                    entry_ids=[o.entry_id] if o.entry_id else [], proposed=o.proposed)
            for o in self._plan.occurrences[(item.kind, item.value)]
        ]  # fmt: skip

    def side(self, side: MatchedSide) -> MatchedSideOut:
        return MatchedSideOut(
            **self.item(side.item).model_dump(),
            substance=side.substance,
            atc=side.atc,
            group_name=side.group_name,
        )

    def finding(self, finding: Finding) -> FindingOut:
        return FindingOut(
            interaction_id=finding.interaction_id,
            fest_entry_id=finding.entry_id,
            release_id=finding.release_id,
            relevans=finding.relevans,
            relevans_text=RELEVANS_TEXT.get(finding.relevans, str(finding.relevans)),
            clinical_consequence=finding.clinical_consequence,
            mechanism=finding.mechanism,
            handling=finding.handling,
            situation_criterion=finding.situation_criterion,
            source_basis=finding.source_basis,
            source_basis_text=SOURCE_BASIS_TEXT.get(finding.source_basis or ""),
            references=[ReferenceOut(source=r.source, link=r.link) for r in finding.references],
            display_rules=list(finding.display_rules),
            first=self.side(finding.first),
            second=self.side(finding.second),
        )

    def duplications(self) -> list[DuplicationOut]:
        """The engine's (distinct items, same level-5 ATC), plus one item given more than once (two entries
        with the same product or code), which the engine sees as one item."""
        by_code: dict[str, list[ItemOut]] = {}
        for duplication in self._result.duplications:
            by_code[duplication.atc] = [out for item in duplication.items for out in self.occurrences(item)]
        for key, occurrences in self._plan.occurrences.items():
            resolved = self._plan.compiled.index.resolve(self._plan.items[key])
            if len(occurrences) < 2 or resolved is None:
                continue
            for code in sorted(resolved.level5_atc_codes):
                by_code.setdefault(code, self.occurrences(self._plan.items[key]))
        return [DuplicationOut(atc=code, items=items) for code, items in sorted(by_code.items())]

    def unresolved(self) -> list[UnresolvedOut]:
        reason = f"catalogue release {self._result.release_id} does not know it"
        from_engine = [
            UnresolvedOut(**self.item(item).model_dump(), reason=reason) for item in self._result.unresolved
        ]
        return self._plan.unresolved + from_engine

    def result(self) -> CheckResultOut:
        return CheckResultOut(
            release_id=self._result.release_id,
            hentet_dato=self._result.hentet_dato,
            findings=[self.finding(f) for f in self._result.findings],
            not_assessed=[
                NotAssessedOut(**self.item(n.item).model_dump(), atc=n.atc, fest_entry_id=n.entry_id)
                for n in self._result.not_assessed
            ],
            duplications=self.duplications(),
            unresolved=self.unresolved(),
            resolved_names=self._plan.resolved_names,
        )


def _run(plan: _Plan, options: CheckOptions, kind: str) -> CheckResultOut:
    result = plan.compiled.index.check(
        plan.items.values(),
        include_relevans_3=options.include_relevans_3,
        visningsregel=options.visningsregel,
    )
    INTERACTION_CHECKS.labels(kind).inc()
    for finding in result.findings:
        INTERACTION_FINDINGS.labels(str(finding.relevans)).inc()
    return _Renderer(plan, result).result()


def check_items(compiled: CompiledRelease, items: list[CheckItemIn], options: CheckOptions) -> CheckResultOut:
    """Check an ad-hoc set of products, packages, ATC codes, substances or names against each other."""
    plan = _Plan(compiled)
    for requested in items:
        plan.add_request_item(requested, proposed=False)
    return _run(plan, options, "adhoc")


def check_patient(
    compiled: CompiledRelease, medication_list: MedicationList, request: PatientCheckRequest
) -> PatientCheckResultOut:
    """Check a patient's active entries with each other and with the proposed additions."""
    plan = _Plan(compiled)
    for entry in medication_list.entries:
        if entry.status is EntryStatus.ACTIVE:
            plan.add_entry(entry)
    for requested in request.proposed:
        plan.add_request_item(requested, proposed=True)
    result = _run(plan, request, "patient")
    return PatientCheckResultOut(
        **result.model_dump(), patient_id=medication_list.patient_id, list_version=medication_list.version
    )
