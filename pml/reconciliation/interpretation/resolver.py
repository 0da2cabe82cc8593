"""Resolve what a source wrote about a medicine to catalogue substances, most certain evidence first: FEST
product id, then varenr, then virkestoff id, then a level-5 ATC code, then the name.

Name resolution reuses the catalogue search (rapidfuzz against brand names, substance names and
NavnFormStyrke, with Norwegian abbreviations spelled out) and adds the safety rule reconciliation needs: a
name only resolves when the best candidate scores high enough AND no candidate of a *different substance*
comes close. "Citalopram" and "Escitalopram" are one letter pair apart; when the scores cannot tell them apart
the entry stays unresolved and a clinician decides. An id that contradicts the name it came with resolves to
nothing either.
"""

from __future__ import annotations

import dataclasses
import re
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TypeVar

from rapidfuzz import fuzz, process

from interactions.frozen import slot_init
from interactions.model import Catalogue, Product
from interactions.search import CatalogueSearch, ParsedQuery
from pml.reconciliation.interpretation.catalogue_facts import (
    CatalogueFacts,
    ProductFacts,
    common_atc,
    is_level5_atc,
)
from pml.reconciliation.interpretation.strength import (
    Strength,
    WrittenStrength,
    bare_number,
    same_strengths,
    strength_of,
    strengths_written_in,
    without_strengths,
    written_numbers,
    written_strengths,
)

# A name resolves at this score or above (0-100: rapidfuzz WRatio less the search's strength and form
# penalties)...
NAME_ACCEPT_SCORE = 84.0
# ...and only when every candidate of another substance scores at least this much lower.
NAME_MARGIN = 8.0
# Candidates down to this score are kept as evidence for a clinician.
NAME_EVIDENCE_SCORE = 70.0
NAME_CANDIDATES = 25
# An id whose product scores below this against the name it came with contradicts it.
NAME_AGREEMENT_SCORE = 60.0
_CACHE_SIZE = 8192
_Key = TypeVar("_Key")

# Spelling variants tried beside the text as written, as FEST writes names: English/Latin to Norwegian
# ("Oxycodon" -> "Oksykodon", "Clopidogrel" -> "Klopidogrel"; a c before e, i or y stays: "Citalopram") and
# back, for brands typed as pronounced ("Somak" -> "Somac", "Furiks" -> "Furix", "Movikol" -> "Movicol").
_NORWEGIAN_SPELLING = ((re.compile(r"x"), "ks"), (re.compile(r"ph"), "f"), (re.compile(r"c(?![eiy])"), "k"))
_LATIN_SPELLING = ((re.compile(r"ks"), "x"), (re.compile(r"k(?=[aou]|\b)"), "c"))
_PARENTHESES = re.compile(r"\(([^()]*)\)")

# Dose regimens typed into the name field ("Paracet 500 mg 1x3", "Furix 40 mg 1+0+0") are no part of a name.
_DOSE_IN_NAME = re.compile(
    r"\b\d+(?:[.,]\d+)?\s*[x×]\s*\d+\b|\b\d+(?:\s*\+\s*\d+(?:[.,]\d+)?){2,3}\b|\bx\s*\d+\b"
)


class ResolutionMethod(StrEnum):
    PRODUCT_ID = "product_id"
    VARENR = "varenr"
    VIRKESTOFF_ID = "virkestoff_id"
    ATC = "atc"
    NAME = "name"
    CONFLICT = "conflict"
    NONE = "none"


@slot_init
@dataclass(frozen=True, slots=True)
class MedicineRef:
    """What a source or a list entry says about which medicine it is; every part is optional."""

    product_id: str | None = None
    varenr: str | None = None
    virkestoff_id: str | None = None
    atc: str | None = None
    name: str | None = None
    strength: str | None = None


@slot_init
@dataclass(frozen=True, slots=True)
class NameCandidate:
    product_id: str
    name: str
    score: float
    substances: tuple[str, ...]


@slot_init
@dataclass(frozen=True, slots=True)
class StrengthConflict:
    """A source that disagrees with itself about strength: its strength field says one thing, its name another
    ("Metformin 500 mg", strength "850 mg"). The field is still read as the strength (it is the structured
    statement), but neither is certain, so every finding the entry takes part in asks for review."""

    in_field: str  # each as written, for the clinician to recognise
    in_name: str

    def describe(self) -> str:
        return f"{self.in_field} in the strength field, {self.in_name} in the name"


@slot_init
@dataclass(frozen=True, slots=True)
class Resolution:
    """The substances a medicine was resolved to (canonical ids; empty when unknown) and the evidence."""

    method: ResolutionMethod
    substances: frozenset[str] = frozenset()
    substance_names: tuple[str, ...] = ()
    atc: str | None = None
    product_id: str | None = None
    product_name: str | None = None
    strengths: frozenset[Strength] = frozenset()
    dose_unit: str | None = None
    score: float | None = None
    candidates: tuple[NameCandidate, ...] = ()
    note: str | None = None
    strength_conflict: StrengthConflict | None = None

    @property
    def identified(self) -> bool:
        """True when we know which substance this is: by substance ids or a level-5 ATC code."""
        return bool(self.substances) or is_level5_atc(self.atc)


UNRESOLVED = Resolution(ResolutionMethod.NONE)


class Resolver:
    """Resolves medicine references against one catalogue release. Thread-safe for reads; caches results."""

    def __init__(
        self, catalogue: Catalogue, *, search: CatalogueSearch | None = None, release_id: str | None = None
    ) -> None:
        self.facts = CatalogueFacts(catalogue)
        self.search = search or CatalogueSearch(catalogue)
        self.release_id = release_id or catalogue.hentet_dato
        self._cache: OrderedDict[MedicineRef, Resolution] = OrderedDict()
        # What a name and strength alone resolve to: one source sends a name with an id, another without.
        self._by_names: OrderedDict[tuple[str, str | None], Resolution] = OrderedDict()

    def resolve(self, ref: MedicineRef) -> Resolution:
        cached = self._cache.get(ref)
        if cached is None:
            cached = self._resolve(ref)
            _remember(self._cache, ref, cached)
        return cached

    def clear_cache(self) -> None:
        """Forget every resolution (and the parsed names and strengths behind them): the next look-ups start
        cold."""
        self._cache.clear()
        self._by_names.clear()
        for cached in (_parsed, _name_words, _strengths_in, _written_in, _strength):
            cached.cache_clear()

    def _resolve(self, ref: MedicineRef) -> Resolution:
        """Whichever path resolves the reference, a strength field the name contradicts goes with it."""
        resolution = self._resolve_medicine(ref)
        conflict = _strength_conflict(ref.strength, ref.name)
        if conflict is None:
            return resolution
        return dataclasses.replace(resolution, strength_conflict=conflict)

    def _resolve_medicine(self, ref: MedicineRef) -> Resolution:
        by_id = self._by_identifier(ref)
        if by_id is None:
            return self._named(ref.name, ref.strength) if ref.name else UNRESOLVED
        if not ref.name:
            return by_id
        by_name = self._named(ref.name, ref.strength)
        if self._contradicts(by_id, by_name):
            return Resolution(
                ResolutionMethod.CONFLICT,
                atc=ref.atc,
                note=f"the {by_id.method.value} points to "
                f"{by_id.product_name or ', '.join(by_id.substance_names)}, "
                f"which does not fit the name {ref.name!r}",
            )
        return _refined(by_id, by_name)

    # -- identifiers ------------------------------------------------------------------------------------

    def _by_identifier(self, ref: MedicineRef) -> Resolution | None:
        if ref.product_id and ref.product_id in self.facts.products:
            return self._from_product(ref, self.facts.products[ref.product_id], ResolutionMethod.PRODUCT_ID)
        product_id = self.facts.product_of_varenr.get((ref.varenr or "").strip())
        if product_id and product_id in self.facts.products:
            return self._from_product(ref, self.facts.products[product_id], ResolutionMethod.VARENR)
        if ref.virkestoff_id and ref.virkestoff_id in self.facts.catalogue.substances:
            substances = frozenset({self.facts.canonical_id(ref.virkestoff_id)})
            return self._from_substances(ref, substances, ResolutionMethod.VIRKESTOFF_ID, ref.atc)
        if is_level5_atc(ref.atc):
            known = self.facts.substances_of_atc.get(ref.atc or "", frozenset())
            substances = next(iter(known)) if len(known) == 1 else frozenset()
            return self._from_substances(ref, substances, ResolutionMethod.ATC, ref.atc)
        return None

    def _from_product(self, ref: MedicineRef, facts: ProductFacts, method: ResolutionMethod) -> Resolution:
        written = self._written_strengths(ref.strength, ref.name, facts.substances)
        return Resolution(
            method,
            facts.substances,
            self.facts.names_of(facts.substances),
            facts.product.atc,
            facts.product.id,
            facts.product.name_form_strength,
            written or facts.strengths,
            facts.dose_unit,
        )

    def _from_substances(
        self, ref: MedicineRef, substances: frozenset[str], method: ResolutionMethod, atc: str | None
    ) -> Resolution:
        return Resolution(
            method,
            substances,
            self.facts.names_of(substances),
            atc,
            strengths=self._written_strengths(ref.strength, ref.name, substances),
            dose_unit=self._common_dose_unit(substances),
        )

    def _contradicts(self, resolution: Resolution, by_name: Resolution) -> bool:
        """An id names one medicine and the text another: e.g. a Paracet varenr typed beside "Marevan"."""
        if by_name.identified:
            return _substance_relation_differs(resolution, by_name)
        best = by_name.candidates[0].score if by_name.candidates else 0.0
        matching = [c for c in by_name.candidates if set(c.substances) == set(resolution.substances)]
        return bool(by_name.candidates) and not matching and best >= NAME_AGREEMENT_SCORE + NAME_MARGIN

    # -- names ------------------------------------------------------------------------------------------

    def _named(self, name: str, strength: str | None) -> Resolution:
        """What the name and strength alone resolve to (all of a reference `_by_name` reads), cached."""
        key = (name, strength)
        cached = self._by_names.get(key)
        if cached is None:
            cached = self._by_name(name, strength)
            _remember(self._by_names, key, cached)
        return cached

    def _by_name(self, name: str, strength: str | None) -> Resolution:
        text = _without_dose(name)
        words = _name_words(text)
        exact = self._by_substance_name(text, strength, words) or self._by_brand_name(text, strength, words)
        if exact is not None:
            return exact
        candidates = self._name_candidates(text)
        if not candidates:
            return UNRESOLVED
        query = _parsed(text).name
        best, fully_named = self._best_candidate(candidates, query)
        if (
            best.score < NAME_ACCEPT_SCORE
            or self._has_rival(candidates, query, best, fully_named)
            or not best.substances
            or (len(best.substances) > 1 and not fully_named and not self._brand_matches(best, query))
        ):
            return Resolution(ResolutionMethod.NONE, score=best.score, candidates=candidates[:5])
        substances = frozenset(best.substances)
        top = [c for c in candidates if c.score == best.score and c.substances == best.substances]
        product = self.facts.products[best.product_id] if len(top) == 1 else None
        strengths = self._written_strengths(strength, text, substances)
        return Resolution(
            ResolutionMethod.NAME,
            substances,
            self.facts.names_of(substances),
            common_atc([self.facts.products[c.product_id] for c in top]),
            product.product.id if product and (not strengths or strengths == product.strengths) else None,
            product.product.name_form_strength if product else None,
            strengths,
            self._common_dose_unit(substances, [c.product_id for c in top]),
            best.score,
            candidates[:5],
        )

    def _by_substance_name(self, text: str, strength: str | None, words: str) -> Resolution | None:
        """The name words are exactly substance names (Norwegian or English, any salt form): one substance,
        or several that some product combines ("Kalsiumkarbonat/kolekalsiferol", "paracetamol kodein"). The
        strength is read as on every other path: the strength field, else the name."""
        substances = self._substances_named(words)
        if substances is None:
            return None
        return Resolution(
            ResolutionMethod.NAME,
            substances,
            self.facts.names_of(substances),
            self.facts.atc_of_substances.get(substances),
            strengths=self._written_strengths(strength, text, substances),
            dose_unit=self._common_dose_unit(substances),
            score=100.0,
        )

    def _substances_named(self, words: str) -> frozenset[str] | None:
        names = self.facts.substance_of_name
        if words in names:
            return frozenset({names[words]})
        parts = words.split()
        if len(parts) < 2 or not all(part in names for part in parts):
            return None
        substances = frozenset(names[part] for part in parts)
        return substances if substances in self.facts.products_of_substances else None

    def _by_brand_name(self, text: str, strength: str | None, words: str) -> Resolution | None:
        """The name words are exactly a brand (Varenavn) whose products all contain the same substances: no
        fuzzy search, no rivals ("Pinex" is Pinex, however close "Pinex Forte" is). The product is known when
        the written strength picks one. What each strength picks is worked out once per release
        (CatalogueFacts.brands)."""
        brand = self.facts.brands.get(words)
        if brand is None:
            return None
        strengths = self._written_strengths(strength, text, brand.substances)
        chosen = brand.choice(strengths)
        return Resolution(
            ResolutionMethod.NAME,
            brand.substances,
            brand.substance_names,
            chosen.atc,
            chosen.product_id,
            chosen.product_name,
            strengths,
            chosen.dose_unit,
            100.0,
        )

    def _name_candidates(self, text: str) -> tuple[NameCandidate, ...]:
        """Candidates for the text as written and its spelling and parenthesis variants, whichever scores
        best."""
        best: list[tuple[Product, float]] = []
        for variant in _variants(text):
            hits = self.search.candidates(variant, limit=NAME_CANDIDATES, cutoff=NAME_EVIDENCE_SCORE)
            if hits and (not best or hits[0][1] > best[0][1]):
                best = hits
        return tuple(self._candidate(product.id, score) for product, score in best)

    def _best_candidate(
        self, candidates: tuple[NameCandidate, ...], query: str
    ) -> tuple[NameCandidate, bool]:
        """Of the candidates sharing the top score: a combination whose every substance the query names
        ("paracetamol kodein"), else the one with the fewest substances ("Paracetamol" names the substance;
        the paracetamol/codeine combination only ties because it contains paracetamol). The flag says whether
        the query names every substance of the chosen one."""
        top = [c for c in candidates if c.score == candidates[0].score]
        named = [c for c in top if len(c.substances) > 1 and self._names_every_substance(c, query)]
        if named:
            return max(named, key=lambda c: (len(c.substances), c.name)), True
        return min(top, key=lambda c: (len(c.substances), c.name)), False

    def _names_every_substance(self, candidate: NameCandidate, query: str) -> bool:
        names = self.facts.names_of(frozenset(candidate.substances))
        return all(fuzz.partial_ratio(name.lower(), query) >= NAME_ACCEPT_SCORE for name in names)

    def _has_rival(
        self, candidates: tuple[NameCandidate, ...], query: str, best: NameCandidate, fully_named: bool
    ) -> bool:
        """Whether a candidate of another substance, or any other substance's name in the catalogue, scores
        within NAME_MARGIN of the best. The catalogue-wide check is the costly one; a rival among the
        candidates already decides without it."""
        rival = max(
            (c.score for c in candidates if not self._explained_by(c, best, fully_named, query)), default=0.0
        )
        if best.score - rival < NAME_MARGIN:
            return True
        rival = max(rival, self._rival_in_catalogue(query, best, fully_named))
        return best.score - rival < NAME_MARGIN

    def _rival_in_catalogue(self, query: str, best: NameCandidate, fully_named: bool) -> float:
        """The best raw name score of another substance anywhere in the catalogue, close enough to matter."""
        near = process.extract(
            query,
            self.facts.rival_names,
            scorer=fuzz.WRatio,
            score_cutoff=best.score - NAME_MARGIN,
            limit=None,
        )
        rival = 0.0
        for _name, score, index in near:
            for substances, is_brand in self.facts.rival_owners[index]:
                if not _explained(
                    substances, best, fully_named, brand_matches=is_brand and score >= NAME_ACCEPT_SCORE
                ):
                    rival = max(rival, float(score))
        return rival

    def _explained_by(
        self, candidate: NameCandidate, best: NameCandidate, best_fully_named: bool, query: str
    ) -> bool:
        """Not a rival of `best`: the same substances; one of the substances of a combination the query names
        in full; or a combination containing best's substances that scores only through the substance name
        they share (its brand does not match: "Paracet" is no reason to think of a paracetamol/codeine
        brand)."""
        substances = frozenset(candidate.substances)
        # Whether the brand matches only counts for a combination containing best's substances; the fuzzy
        # score is not worked out for the other candidates.
        counts = set(best.substances) < substances
        brand_matches = counts and self._brand_matches(candidate, query)
        return _explained(substances, best, best_fully_named, brand_matches=brand_matches)

    def _brand_matches(self, candidate: NameCandidate, query: str) -> bool:
        """A combination found through one of its substance names ("Codein" -> a paracetamol/codeine
        product) is not that combination; its brand name must match."""
        brand = self.facts.normalised_brands[candidate.product_id]
        return fuzz.WRatio(query, brand) >= NAME_ACCEPT_SCORE

    def _candidate(self, product_id: str, score: float) -> NameCandidate:
        name, substances = self.facts.candidate_parts[product_id]
        return NameCandidate(product_id, name, score, substances)

    # -- strengths and units ----------------------------------------------------------------------------

    def _written_strengths(
        self, strength: str | None, name: str | None, substances: frozenset[str]
    ) -> frozenset[Strength]:
        """The strength the source wrote, in its strength field or else in the name. A bare number ("Selo-Zok
        50") is read in the unit the catalogue gives this substance that number in."""
        for text in (strength, name):
            written = _strengths_in(text)
            if written:
                return written
        numbers = _parsed(strength or name or "").numbers
        if len(numbers) != 1:
            return frozenset()
        found = {
            strength
            for facts in self._products_of(substances)
            for value, strength in facts.written_strengths
            if _same_number(value, numbers[0])
        }
        return frozenset(found) if len(found) == 1 else frozenset()

    def _products_of(self, substances: frozenset[str]) -> list[ProductFacts]:
        return self.facts.products_of_substances.get(substances, [])

    def _common_dose_unit(
        self, substances: frozenset[str], product_ids: list[str] | None = None
    ) -> str | None:
        if not product_ids:
            return self.facts.dose_unit_of_substances.get(substances)
        units = {self.facts.products[p].dose_unit for p in product_ids}
        return units.pop() if len(units) == 1 else None


def _remember(cache: OrderedDict[_Key, Resolution], key: _Key, resolution: Resolution) -> None:
    cache[key] = resolution
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


@lru_cache(maxsize=_CACHE_SIZE)
def _parsed(text: str) -> ParsedQuery:
    """A name split as the search splits it; names repeat, so the parse is cached."""
    return ParsedQuery.parse(text)


@lru_cache(maxsize=_CACHE_SIZE)
def _written_in(text: str) -> tuple[WrittenStrength, ...]:
    """The strengths of a name or strength field as written: read for its strengths and for the conflict
    check."""
    return strengths_written_in(text)


@lru_cache(maxsize=_CACHE_SIZE)
def _strength(written: WrittenStrength) -> Strength | None:
    """One written strength read once: "500 mg" recurs in many names and fields."""
    return strength_of(written)


@lru_cache(maxsize=_CACHE_SIZE)
def _name_words(text: str) -> str:
    """The words of a name: strengths, numbers, units and form words left out."""
    return _parsed(without_strengths(text)).name


@lru_cache(maxsize=_CACHE_SIZE)
def _strengths_in(text: str | None) -> frozenset[Strength]:
    """The strengths written in a strength field or a name; the same few texts recur in every source."""
    if not text:
        return frozenset()
    found = (_strength(written) for written in _written_in(text))
    return frozenset(strength for strength in found if strength is not None)


def _strength_conflict(field: str | None, name: str | None) -> StrengthConflict | None:
    """The strength field and the name state different strengths. Compared as read, so "500mg" and "0,5 g"
    agree with "500 mg"; a field without a unit ("500") agrees with a name strength written with that number
    (or that number of mg). Most fields are written as in the name and need no reading at all."""
    if not field or not name:
        return None
    named, stated = _written_in(name), _written_in(field)
    if not named or stated == named or set(stated) == set(named):
        return None
    in_name, in_field = _strengths_in(name), _strengths_in(field)
    if not in_name:
        return None
    if in_field:
        agree = same_strengths(in_field, in_name)
    else:
        number = bare_number(field)
        agree = number is None or number in written_numbers(name) or any(s.value == number for s in in_name)
    return None if agree else StrengthConflict(field, "/".join(written_strengths(name)))


def _without_dose(name: str) -> str:
    """The name without a dose regimen typed into it. Every regimen the pattern matches has an "x", a "×" or a
    "+"; most names have none, and substring tests cost less than the search."""
    if "x" in name or "+" in name or "×" in name:
        return _DOSE_IN_NAME.sub(" ", name)
    return name


def _respelt(text: str, rules: tuple[tuple[re.Pattern[str], str], ...]) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def _variants(text: str) -> list[str]:
    """The text, without its parenthesis and as the parenthesis alone ("Makrogol m/elektrolytter (Movicol)"),
    each also respelt; duplicates dropped, order kept."""
    lowered = text.lower()
    forms = [lowered, _PARENTHESES.sub(" ", lowered), *_PARENTHESES.findall(lowered)]
    found: list[str] = []
    for form in forms:
        if form.strip():
            found.extend((form, _respelt(form, _NORWEGIAN_SPELLING), _respelt(form, _LATIN_SPELLING)))
    return list(dict.fromkeys(found))


def _explained(
    substances: frozenset[str], best: NameCandidate, best_fully_named: bool, *, brand_matches: bool
) -> bool:
    if substances == set(best.substances):
        return True
    if best_fully_named and substances < set(best.substances):
        return True
    return set(best.substances) < substances and not brand_matches


def _refined(by_id: Resolution, by_name: Resolution) -> Resolution:
    """An ATC code or virkestoff id names the substance; the name that came with it may name the product too
    ("Sarotex tab 25 mg" beside N06AA09). Take the product from the name when both agree on the substance."""
    if not by_id.substances and by_name.substances and by_name.atc == by_id.atc:
        return by_name  # an ATC code the catalogue has no products for, and a name it knows
    if by_id.product_id is not None or not by_name.identified or by_name.substances != by_id.substances:
        return by_id
    return Resolution(  # by_id with the name's product: fields in order (dataclasses.replace costs more)
        by_id.method,
        by_id.substances,
        by_id.substance_names,
        by_id.atc,
        by_name.product_id,
        by_name.product_name,
        by_id.strengths or by_name.strengths,
        by_id.dose_unit or by_name.dose_unit,
        by_id.score,
        by_id.candidates,
        by_id.note,
    )


def _same_number(written: str, number: str) -> bool:
    try:
        return float(written.replace(",", ".")) == float(number)
    except ValueError:
        return False


def _substance_relation_differs(first: Resolution, second: Resolution) -> bool:
    if first.substances and second.substances:
        return first.substances != second.substances
    if is_level5_atc(first.atc) and is_level5_atc(second.atc):
        return first.atc != second.atc
    return False
