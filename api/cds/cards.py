"""Interaction check results as CDS Hooks cards, for what the draft orders bring: interactions with the list
or with each other (critical for relevans 1, warning for 2), the same substance already on the list (warning),
and drafts that could not be checked or that DMP has not assessed (info) — a check that could not be made is
never shown as "no interactions". Findings among the list's own entries are not news at ordering time and get
no card. Every card names the catalogue release it came from.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from api.cds.drafts import Draft
from api.cds.schemas import Action, Card, Coding, Indicator, Source, Suggestion
from pml.catalogue.schemas import FindingOut, ItemOut, PatientCheckResultOut
from pml.cds.schemas import IssuedCard

SUMMARY_LIMIT = 139
TOPICS = "https://pml.akson.no/fhir/CodeSystem/cds-card-topic"
OVERRIDE_REASONS_SYSTEM = "https://pml.akson.no/fhir/CodeSystem/cds-override-reason"
OVERRIDE_REASONS = [
    Coding(system=OVERRIDE_REASONS_SYSTEM, code="benefit-outweighs-risk", display="Nytten oppveier risikoen"),
    Coding(
        system=OVERRIDE_REASONS_SYSTEM,
        code="monitored",
        display="Pasienten følges opp (dose, blodprøver, EKG)",
    ),
    Coding(system=OVERRIDE_REASONS_SYSTEM, code="already-assessed", display="Kjent og vurdert tidligere"),
    Coding(system=OVERRIDE_REASONS_SYSTEM, code="not-applicable", display="Gjelder ikke denne pasienten"),
]
_INDICATOR: dict[int, Indicator] = {1: "critical", 2: "warning", 3: "info"}


@dataclass(frozen=True, slots=True)
class CardSet:
    """The cards of one hook call, and what PML records about each."""

    cards: list[Card] = field(default_factory=list)
    issued: list[IssuedCard] = field(default_factory=list)


def shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class CardBuilder:
    def __init__(
        self,
        service_id: str,
        hook_instance: uuid.UUID,
        result: PatientCheckResultOut,
        drafts: list[Draft],
        selected: set[str] | None,
    ) -> None:
        self._service_id = service_id
        self._hook_instance = hook_instance
        self._result = result
        self._selected = selected
        self._drafts_by_key: dict[tuple[str, str], list[Draft]] = {}
        for draft in drafts:
            if draft.key is not None:
                self._drafts_by_key.setdefault(draft.key, []).append(draft)
        for resolved in result.resolved_names:  # a name resolves to a product: the finding names the product
            for draft in self._drafts_by_key.get(("name", resolved.name), []):
                self._drafts_by_key.setdefault(("product", resolved.product.id), []).append(draft)
        self._unkeyed = [draft for draft in drafts if draft.key is None]
        self.built = CardSet()

    @property
    def _source(self) -> Source:
        label = f"FEST legemiddelinteraksjoner (DMP), katalogutgave {self._result.release_id}"
        if self._result.hentet_dato:
            label += f", hentet {self._result.hentet_dato}"
        return Source(
            label=label, topic=Coding(system=TOPICS, code="interaction", display="Legemiddelinteraksjon")
        )

    def _drafts(self, item: ItemOut) -> list[Draft]:
        drafts = self._drafts_by_key.get((item.kind, item.value), []) if item.proposed else []
        return [d for d in drafts if self._selected is None or (d.reference or "") in self._selected]

    def _add(self, card: Card, kind: str, drafts: Iterable[Draft], interaction_id: str | None = None) -> None:
        refs = sorted({d.reference for d in drafts if d.reference})
        suggestion_ids = [str(s.uuid) for s in card.suggestions or []]
        self.built.cards.append(card)
        self.built.issued.append(
            IssuedCard(
                card_uuid=card.uuid,
                service_id=self._service_id,
                hook_instance=self._hook_instance,
                kind=kind,
                indicator=card.indicator,
                summary=card.summary,
                interaction_id=interaction_id,
                release_id=self._result.release_id,
                draft_refs=refs,
                suggestion_uuids=suggestion_ids,
            )
        )

    # -- interactions ----------------------------------------------------------------------------------------

    def interactions(self) -> CardBuilder:
        for finding in self._result.findings:
            drafts = self._drafts(finding.first) + self._drafts(finding.second)
            if drafts:
                self._add(
                    self._interaction_card(finding, drafts), "interaction", drafts, finding.interaction_id
                )
        return self

    def _interaction_card(self, finding: FindingOut, drafts: list[Draft]) -> Card:
        pair = f"{finding.first.substance} og {finding.second.substance}"
        suggestions = _removal_suggestions(drafts)
        return Card(
            uuid=uuid.uuid4(),
            summary=shorten(f"Interaksjon – {finding.relevans_text.lower()}: {pair}"),
            detail=_interaction_detail(finding),
            indicator=_INDICATOR.get(finding.relevans, "warning"),
            source=self._source,
            suggestions=suggestions or None,
            selectionBehavior="at-most-one" if suggestions else None,
            overrideReasons=OVERRIDE_REASONS,
        )

    # -- the same substance twice ----------------------------------------------------------------------------

    def duplications(self) -> CardBuilder:
        for duplication in self._result.duplications:
            drafts = [d for item in duplication.items for d in self._drafts(item)]
            if not drafts:
                continue
            names = ", ".join(sorted({item.label for item in duplication.items}))
            suggestions = _removal_suggestions(drafts)
            card = Card(
                uuid=uuid.uuid4(),
                summary=shorten(f"Samme virkestoff (ATC {duplication.atc}) to ganger: {names}"),
                detail=(
                    f"Bestillingen gir samme virkestoff (ATC `{duplication.atc}`) som "
                    f"{'en annen bestilling eller ' if len(drafts) > 1 else ''}et legemiddel på "
                    f"legemiddellisten: {_md(names)}.\n\nVurder om det ene skal seponeres."
                ),
                indicator="warning",
                source=self._source,
                suggestions=suggestions or None,
                selectionBehavior="at-most-one" if suggestions else None,
                overrideReasons=OVERRIDE_REASONS,
            )
            self._add(card, "duplication", drafts)
        return self

    # -- what could not be checked ---------------------------------------------------------------------------

    def unchecked(self) -> CardBuilder:
        unresolved = [(d, u.reason) for u in self._result.unresolved for d in self._drafts(u)]
        unresolved += [
            (d, "bestillingen oppgir verken FEST-kode, ATC-kode eller navn")
            for d in self._unkeyed
            if self._selected is None or (d.reference or "") in self._selected
        ]
        for draft, reason in unresolved:
            self._add(
                self._info(
                    f"Interaksjoner ikke sjekket for {draft.label}",
                    f"PML kunne ikke sjekke **{_md(draft.label)}**: {_md(reason)}. "
                    "Sjekk interaksjoner på annen måte.",
                ),
                "unchecked",
                [draft],
            )
        for item in self._result.not_assessed:
            for draft in self._drafts(item):
                self._add(
                    self._info(
                        f"{draft.label}: ikke vurdert for interaksjoner i FEST",
                        f"DMP har ikke vurdert ATC `{item.atc}` for interaksjoner. Det betyr ikke at "
                        "det ikke finnes interaksjoner.",
                    ),
                    "not-assessed",
                    [draft],
                )
        return self

    def _info(self, summary: str, detail: str) -> Card:
        return Card(
            uuid=uuid.uuid4(), summary=shorten(summary), detail=detail, indicator="info", source=self._source
        )


def _removal_suggestions(drafts: list[Draft]) -> list[Suggestion]:
    seen: dict[str, Draft] = {d.reference: d for d in drafts if d.reference}
    return [
        Suggestion(
            label=shorten(f"Fjern bestillingen av {draft.label}", 80),
            uuid=uuid.uuid4(),
            actions=[
                Action(
                    type="delete", description=f"Fjern bestillingen av {draft.label}", resourceId=reference
                )
            ],
        )
        for reference, draft in seen.items()
    ]


_INLINE = re.compile(r"([\\`*_\[\]<>#|~])")
_BULLET = re.compile(r"^(\s*)([-+])", re.MULTILINE)
_NUMBERED = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)


def _md(text: str) -> str:
    """FEST and prescriber text as literal markdown: no character of it is read as formatting (inline marks
    everywhere, list markers at the start of a line)."""
    escaped = _INLINE.sub(r"\\\1", text)
    return _NUMBERED.sub(r"\1\\\2", _BULLET.sub(r"\1\\\2", escaped))


def _url(link: str) -> str:
    return link.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


def _interaction_detail(finding: FindingOut) -> str:
    parts = [
        f"**{_md(finding.relevans_text)}** — {_md(finding.first.substance)} og "
        f"{_md(finding.second.substance)}.",
        f"**Konsekvens:** {_md(finding.clinical_consequence)}",
        f"**Håndtering:** {_md(finding.handling) if finding.handling else 'Ikke angitt i FEST.'}",
    ]
    if finding.situation_criterion:
        parts.append(f"**Gjelder når:** {_md(finding.situation_criterion)}")
    if finding.mechanism:
        parts.append(f"**Mekanisme:** {_md(finding.mechanism)}")
    basis = f" Kunnskapsgrunnlag: {_md(finding.source_basis_text)}." if finding.source_basis_text else ""
    parts.append(f"FEST-interaksjon `{finding.interaction_id}`.{basis}")
    references = [
        f"- [{_md(r.source)}]({_url(r.link)})"
        if r.link and r.link.startswith("https://")
        else f"- {_md(r.source)}"
        for r in finding.references
    ]
    if references:
        parts.append("**Referanser:**\n" + "\n".join(references))
    return "\n\n".join(parts)


def build_cards(
    service_id: str,
    hook_instance: uuid.UUID,
    result: PatientCheckResultOut,
    drafts: list[Draft],
    selected: set[str] | None,
) -> CardSet:
    builder = CardBuilder(service_id, hook_instance, result, drafts, selected)
    return builder.interactions().duplications().unchecked().built
