"""Match a source's entries to the list's entries, most certain rule first, never across substances.

Rules, in order: same product -> same substance and strength -> same substance -> the same free text (two
entries neither side could resolve, written identically). Every possible pair is ranked by its rule and then
by how well the two agree (status, dose, name), and pairs are taken greedily, so a more certain pair is never
displaced by a less certain one.

A fuzzy name likeness between entries of which at least one is unresolved is *not* a match: it is reported as
a possible match for a clinician, and both entries stay unmatched (under-merging is safe; wrong-merging is
not).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from rapidfuzz import fuzz

from interactions.frozen import slot_init
from pml.medication_list.schemas import EntryStatus
from pml.reconciliation.interpretation.catalogue_facts import is_level5_atc
from pml.reconciliation.interpretation.dose_text import same_regimen
from pml.reconciliation.interpretation.medicine import Medicine
from pml.reconciliation.interpretation.resolver import Resolution
from pml.reconciliation.schemas import Certainty, MatchRule

# A name likeness at or above this, where the substances cannot be compared, is shown as a possible match.
POSSIBLE_MATCH_SCORE = 75.0
_RULE_RANK = {
    MatchRule.SAME_PRODUCT: 0, MatchRule.SAME_SUBSTANCE_AND_STRENGTH: 1, MatchRule.SAME_SUBSTANCE: 2,
    MatchRule.SAME_FREE_TEXT: 3,
}  # fmt: skip


class Relation(Enum):
    SAME = "same"
    DIFFERENT = "different"
    UNKNOWN = "unknown"


@slot_init
@dataclass(frozen=True, slots=True)
class Pairing:
    source: Medicine
    entry: Medicine
    rule: MatchRule
    certainty: Certainty
    score: float | None = None


@dataclass(slots=True)
class MatchResult:
    pairs: list[Pairing] = field(default_factory=list)
    possible: list[Pairing] = field(default_factory=list)
    unmatched_source: list[Medicine] = field(default_factory=list)
    unmatched_entries: list[Medicine] = field(default_factory=list)

    def possible_for(self, medicine: Medicine) -> Pairing | None:
        return next((p for p in self.possible if medicine in (p.source, p.entry)), None)


def substance_relation(first: Resolution, second: Resolution) -> Relation:
    """Same substance(s), different, or unknown. Substance ids decide when both sides have them; otherwise a
    level-5 ATC code on both sides does (one ATC level-5 code is one substance or one fixed combination)."""
    if first.substances and second.substances:
        return Relation.SAME if first.substances == second.substances else Relation.DIFFERENT
    if is_level5_atc(first.atc) and is_level5_atc(second.atc):
        return Relation.SAME if first.atc == second.atc else Relation.DIFFERENT
    return Relation.UNKNOWN


def certain_rule(source: Medicine, entry: Medicine) -> MatchRule | None:
    """The most certain rule tying the two, or None when they may not be merged."""
    relation = substance_relation(source.resolution, entry.resolution)
    if relation is Relation.SAME:
        product = source.resolution.product_id
        if product is not None and product == entry.resolution.product_id:
            return MatchRule.SAME_PRODUCT
        if source.strengths and source.strengths == entry.strengths:
            return MatchRule.SAME_SUBSTANCE_AND_STRENGTH
        return MatchRule.SAME_SUBSTANCE
    if relation is Relation.UNKNOWN and not source.identified and not entry.identified:
        return MatchRule.SAME_FREE_TEXT if source.name_key and source.name_key == entry.name_key else None
    return None


def _agreement(source: Medicine, entry: Medicine) -> float:
    """How well a certain pair agrees beyond its rule; breaks ties between pairs of the same rule."""
    score = 0.0
    if source.status is entry.status:
        score += 4.0
    if entry.status is EntryStatus.ACTIVE:
        score += 2.0
    if source.as_needed == entry.as_needed:
        score += 2.0
    if same_regimen(source.dose, entry.dose, strengths=(source.unit_strength, entry.unit_strength)):
        score += 1.0
    products = source.resolution.product_id, entry.resolution.product_id
    if None not in products and products[0] != products[1]:
        score -= 1.0  # another brand named outright agrees less than a generic name
    return score + name_likeness(source, entry) / 100.0


def name_likeness(source: Medicine, entry: Medicine) -> float:
    """0-100: how alike the two names are, numbers and form words left out."""
    first, second = source.name_words, entry.name_words
    if not first or not second:
        return 0.0
    return float(fuzz.token_set_ratio(first, second))


def _comparable_keys(medicine: Medicine) -> tuple[object, ...]:
    """Keys under which a certain match can only be with another medicine sharing one of them: its substance
    set, its level-5 ATC code, or (unresolved) its free-text name. Pairs sharing none are never compared.
    Worked out once per medicine: a list's entries are matched against every source."""
    keys = medicine.derived.get("comparable_keys")
    if keys is None:
        keys = medicine.derived["comparable_keys"] = _keys_of(medicine)
    return keys


def _keys_of(medicine: Medicine) -> tuple[object, ...]:
    resolution = medicine.resolution
    keys: list[object] = []
    if resolution.substances:
        keys.append(resolution.substances)
    if is_level5_atc(resolution.atc):
        keys.append(resolution.atc)
    if not medicine.identified:
        keys.append(("free text", medicine.name_key))
    return tuple(keys)


def _candidate_pairs(sources: list[Medicine], entries: list[Medicine]) -> set[tuple[int, int]]:
    by_key: dict[object, list[int]] = {}
    for j, entry in enumerate(entries):
        for key in _comparable_keys(entry):
            by_key.setdefault(key, []).append(j)
    return {
        (i, j)
        for i, source in enumerate(sources)
        for key in _comparable_keys(source)
        for j in by_key.get(key, ())
    }


def match(sources: list[Medicine], entries: list[Medicine]) -> MatchResult:
    certain = [
        (i, j, rule)
        for i, j in _candidate_pairs(sources, entries)
        if (rule := certain_rule(sources[i], entries[j])) is not None
    ]
    contested = _contested(certain)
    ranked = [
        (_RULE_RANK[rule], -_agreement(sources[i], entries[j]) if (i, j) in contested else 0.0, i, j, rule)
        for i, j, rule in certain
    ]
    ranked.sort()
    result = MatchResult()
    taken_sources: set[int] = set()
    taken_entries: set[int] = set()
    for _rank, _agree, i, j, rule in ranked:
        if i not in taken_sources and j not in taken_entries:
            taken_sources.add(i)
            taken_entries.add(j)
            result.pairs.append(Pairing(sources[i], entries[j], rule, Certainty.CERTAIN))
    result.pairs.sort(key=lambda p: p.source.source_index or 0)
    result.unmatched_source = [s for i, s in enumerate(sources) if i not in taken_sources]
    result.unmatched_entries = [e for j, e in enumerate(entries) if j not in taken_entries]
    result.possible = _possible_matches(result.unmatched_source, result.unmatched_entries)
    return result


def _contested(certain: list[tuple[int, int, MatchRule]]) -> set[tuple[int, int]]:
    """The certain pairs that share a source entry or a list entry with another certain pair. Only these
    compete, so only their agreement decides anything: an uncontested pair is taken whatever its rank."""
    sources = Counter(i for i, _j, _rule in certain)
    entries = Counter(j for _i, j, _rule in certain)
    return {(i, j) for i, j, _rule in certain if sources[i] > 1 or entries[j] > 1}


def _possible_matches(sources: list[Medicine], entries: list[Medicine]) -> list[Pairing]:
    """For each unmatched source entry, the most alike unmatched list entry, where the substances cannot be
    compared (at least one side unresolved). Reported, never merged."""
    possible: list[Pairing] = []
    used: set[str] = set()
    for source in sources:
        scored = [
            (name_likeness(source, entry), entry)
            for entry in entries
            if entry.key not in used
            and substance_relation(source.resolution, entry.resolution) is Relation.UNKNOWN
        ]
        best = max(scored, key=lambda pair: pair[0], default=None)
        if best is not None and best[0] >= POSSIBLE_MATCH_SCORE:
            used.add(best[1].key)
            possible.append(Pairing(source, best[1], MatchRule.FUZZY_NAME, Certainty.UNCERTAIN, best[0]))
    return possible
