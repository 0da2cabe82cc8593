"""Catalogue name search, as a prescriber types and for resolving free-text names.

A query is normalised the same way as the catalogue (lower case, Norwegian form
abbreviations spelled out, "500mg" split into "500 mg", "9,6" read as 9.6), then split into
name words, form words ("tablett") and strength numbers. The name words are scored with
rapidfuzz's WRatio against each product's brand name (Varenavn), its substance names and
its NavnFormStyrke; matching strengths and forms then move a product up, contradicting
ones move it down. So "paracet 500" ranks the paracetamol 500 mg products first, and
"Selo-zok 50" finds "Selo-Zok depottab 50 mg".

`CatalogueSearch.candidates` is the reusable core (product, score) for reconciliation;
`CatalogueSearch.search` adds paging for the API.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from interactions.frozen import slot_init
from interactions.model import Catalogue, Product

# Abbreviations used in NavnFormStyrke and by prescribers, spelled out.
ABBREVIATIONS: dict[str, str] = {
    "tab": "tablett", "tbl": "tablett", "tabl": "tablett", "tabs": "tablett", "tablet": "tablett",
    "depottab": "depottablett", "enterotab": "enterotablett", "smeltetab": "smeltetablett",
    "brusetab": "brusetablett", "tyggetab": "tyggetablett", "dsp": "dispergerbar",
    "kap": "kapsel", "kaps": "kapsel", "caps": "kapsel", "depotkaps": "depotkapsel",
    "enterokaps": "enterokapsel", "mikst": "mikstur", "mixt": "mikstur", "inj": "injeksjon",
    "inf": "infusjon", "oppl": "oppløsning", "susp": "suspensjon", "supp": "stikkpille",
    "stikkp": "stikkpille", "pulv": "pulver", "inh": "inhalasjon", "konsentr": "konsentrat",
    "dr": "dråper", "gtt": "dråper", "salv": "salve", "liniment": "liniment",
    "mcg": "mikrog", "µg": "mikrog", "ug": "mikrog", "mikrogram": "mikrog", "mgr": "mg",
}  # fmt: skip
FORM_WORDS = frozenset(
    {"tablett", "depottablett", "enterotablett", "smeltetablett", "brusetablett", "tyggetablett",
     "dispergerbar", "filmdrasjert", "kapsel", "depotkapsel", "enterokapsel", "mikstur",
     "injeksjon", "infusjon", "oppløsning", "suspensjon", "stikkpille", "pulver", "inhalasjon",
     "konsentrat", "dråper", "salve", "krem", "gel", "plaster", "sirup", "spray", "hard", "myk",
     "liniment", "væske", "granulat", "depotplaster", "nesespray", "øyedråper"}
)  # fmt: skip
UNITS = frozenset({"mg", "g", "ml", "mikrog", "ie", "mmol", "%", "l", "dose", "doser", "e", "mg/ml"})

_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d)")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")
_SEPARATORS = re.compile(r"[^\w.%µ]+")

# Scores only go down from the name score, so they stay 0-100 without clipping the top.
STRENGTH_PREFIX_PENALTY = 2.0
STRENGTH_MISMATCH_PENALTY = 20.0
FORM_MISMATCH_PENALTY = 10.0
DEFAULT_CUTOFF = 70.0


def normalise(text: str) -> str:
    """Lower-case search form of a name: abbreviations spelled out, numbers split off."""
    if not text.isascii():  # ASCII text is its own NFKC form (most names), and the check costs less
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    if "," in text:
        text = _DECIMAL_COMMA.sub(".", text)
    spelled = ABBREVIATIONS.get
    words = []
    for raw in _SEPARATORS.sub(" ", text).split():
        # Digits are split from letters ("500mg") token by token: most tokens are all letters or all digits,
        # and a regex over the whole text cost more than the rest of this function.
        if raw.isalpha() or raw.isdecimal():
            words.append(spelled(raw, raw))
            continue
        for part in _DIGIT_LETTER.sub(" ", raw).split():
            token = part.strip(".")
            if token:
                words.append(spelled(token, token))
    return " ".join(words)


@slot_init  # every name resolved is parsed at least once (see interactions.frozen)
@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A normalised query split into name words, form words and strength numbers."""

    name: str
    forms: frozenset[str]
    numbers: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> ParsedQuery:
        numbers, forms, words = [], [], []
        for token in normalise(text).split():
            # A number starts with a digit (\d and isdecimal are the same class): most tokens are words, and
            # the first-character test costs less than the pattern.
            if token[0].isdecimal() and _NUMBER.match(token):
                numbers.append(_canonical_number(token))
            elif token in FORM_WORDS:
                forms.append(token)
            elif token not in UNITS:
                words.append(token)
        return cls(" ".join(words), frozenset(forms), tuple(numbers))


def _canonical_number(token: str) -> str:
    """ "500", "500.0" and "500.00" are one strength."""
    return token.rstrip("0").rstrip(".") if "." in token else token.lstrip("0") or "0"


@dataclass(frozen=True, slots=True)
class _Entry:
    """What search knows about one product."""

    product: Product
    strengths: frozenset[str]
    forms: frozenset[str]


@dataclass(frozen=True, slots=True)
class SearchHit:
    product: Product
    score: float


@dataclass(frozen=True, slots=True)
class SearchPage:
    query: str
    total: int
    offset: int
    limit: int
    hits: tuple[SearchHit, ...]


class CatalogueSearch:
    """A search index over a catalogue's products; build once per release, share freely."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._entries: list[_Entry] = []
        self._choices: list[str] = []
        self._entries_of_choice: list[list[int]] = []
        self._prefix_index: dict[str, set[int]] = defaultdict(set)
        choice_numbers: dict[str, int] = {}
        for product in catalogue.products.values():
            self._add_product(catalogue, product, choice_numbers)

    def _add_product(self, catalogue: Catalogue, product: Product, choice_numbers: dict[str, int]) -> None:
        entry_number = len(self._entries)
        nfs = normalise(product.name_form_strength)
        self._entries.append(_Entry(product, _strengths(catalogue, product, nfs), _forms(product, nfs)))
        for name in _names(catalogue, product, nfs):
            if name not in choice_numbers:
                choice_numbers[name] = len(self._choices)
                self._choices.append(name)
                self._entries_of_choice.append([])
                for word in name.split():
                    for key in _index_keys(word):
                        self._prefix_index[key].add(choice_numbers[name])
            self._entries_of_choice[choice_numbers[name]].append(entry_number)

    def candidates(
        self, text: str, *, limit: int | None = 10, active_only: bool = True, cutoff: float = DEFAULT_CUTOFF
    ) -> list[tuple[Product, float]]:
        """Products matching a free-text name, best first, each with a 0-100 score."""
        query = ParsedQuery.parse(text)
        if not query.name:
            return []
        scored = self._ranked(query, active_only, cutoff)
        return [(self._entries[number].product, score) for number, score in scored[:limit]]

    def search(self, text: str, *, offset: int = 0, limit: int = 20, active_only: bool = True) -> SearchPage:
        """One page of ranked results and the total number of matches."""
        query = ParsedQuery.parse(text)
        scored = self._ranked(query, active_only, DEFAULT_CUTOFF) if query.name else []
        hits = tuple(SearchHit(self._entries[n].product, s) for n, s in scored[offset : offset + limit])
        return SearchPage(text, len(scored), offset, limit, hits)

    def _ranked(self, query: ParsedQuery, active_only: bool, cutoff: float) -> list[tuple[int, float]]:
        name_scores = self._name_scores(query.name, cutoff)
        scored = [
            (number, _final_score(score, query, self._entries[number]))
            for number, score in name_scores.items()
            if self._entries[number].product.active or not active_only
        ]
        scored.sort(key=lambda pair: (-pair[1], self._entries[pair[0]].product.name_form_strength))
        return scored

    def _name_scores(self, name: str, cutoff: float) -> dict[int, float]:
        """Best name score per product, scoring the fewest choices that can answer: those with
        a word sharing its first three letters with a query word; if none matches, two
        letters; then (a typo early in the word) those sharing two letter trigrams; then all.
        The tier depends on the query alone, so every page of a query has the same total."""
        for tier in self._tiers(name):
            scores = self._score_choices(name, tier, cutoff) if tier else {}
            if scores:
                return scores
        return self._score_choices(name, range(len(self._choices)), cutoff)

    def _tiers(self, name: str) -> Iterator[list[int]]:
        """The tiers of `_name_scores` in order; each is only worked out when the ones before it scored
        nothing (most queries stop at the first)."""
        yield self._prefix_candidates(name, 3)
        yield self._prefix_candidates(name, 2)
        yield self._trigram_candidates(name)

    def _prefix_candidates(self, name: str, length: int) -> list[int]:
        numbers: set[int] = set()
        for word in name.split():
            if len(word) >= length:
                numbers |= self._prefix_index.get(word[:length], set())
        return sorted(numbers)

    def _trigram_candidates(self, name: str) -> list[int]:
        """Choices sharing at least two letter trigrams with the query (typo tolerance)."""
        shared: Counter[int] = Counter()
        for trigram in {key for word in name.split() for key in _trigrams(word)}:
            shared.update(self._prefix_index.get(trigram, ()))
        return sorted(number for number, count in shared.items() if count >= 2)

    def _score_choices(
        self, name: str, choice_numbers: Sequence[int] | range, cutoff: float
    ) -> dict[int, float]:
        # The full scan takes the choice list as it is (list indexes are the choice numbers); a tier, a dict.
        choices: list[str] | dict[int, str] = (
            self._choices
            if isinstance(choice_numbers, range)
            else {number: self._choices[number] for number in choice_numbers}
        )
        matches = process.extract(name, choices, scorer=fuzz.WRatio, score_cutoff=cutoff, limit=None)
        scores: dict[int, float] = {}
        for _choice, score, choice_number in matches:
            for entry_number in self._entries_of_choice[choice_number]:
                scores[entry_number] = max(scores.get(entry_number, 0.0), float(score))
        return scores


def _trigrams(word: str) -> list[str]:
    # Marked with "#" so a trigram never collides with a 3-letter prefix key.
    return [f"#{word[i : i + 3]}" for i in range(len(word) - 2)]


def _index_keys(word: str) -> list[str]:
    return [word[:3], word[:2], *_trigrams(word)]


def _names(catalogue: Catalogue, product: Product, nfs: str) -> set[str]:
    """Search strings of a product: brand, substance names, NavnFormStyrke without numbers."""
    names = {
        normalise(product.brand_name),
        " ".join(w for w in nfs.split() if not _NUMBER.match(w) and w not in UNITS),
    }
    names.update(normalise(name) for name in _substance_names(catalogue, product))
    return {name for name in names if name}


def _substance_names(catalogue: Catalogue, product: Product) -> Iterable[str]:
    for strength_id in product.strength_ids:
        strength = catalogue.strengths.get(strength_id)
        substance = catalogue.substances.get(strength.substance_id or "") if strength else None
        if substance is not None:
            yield substance.name


def _strengths(catalogue: Catalogue, product: Product, nfs: str) -> frozenset[str]:
    numbers = {_canonical_number(token) for token in nfs.split() if _NUMBER.match(token)}
    for strength_id in product.strength_ids:
        strength = catalogue.strengths.get(strength_id)
        if strength is not None and strength.strength_value and _NUMBER.match(strength.strength_value):
            numbers.add(_canonical_number(strength.strength_value))
    return frozenset(numbers)


def _forms(product: Product, nfs: str) -> frozenset[str]:
    words = set(nfs.split())
    for text in (product.form, product.form_long):
        words.update(normalise(text or "").split())
    return frozenset(word for word in words if word in FORM_WORDS)


def _final_score(name_score: float, query: ParsedQuery, entry: _Entry) -> float:
    score = name_score - _strength_penalty(query.numbers, entry.strengths)
    if query.forms and not query.forms <= entry.forms:
        score -= FORM_MISMATCH_PENALTY
    return round(max(0.0, score), 2)


def _strength_penalty(numbers: tuple[str, ...], strengths: frozenset[str]) -> float:
    if all(number in strengths for number in numbers):
        return 0.0
    # As the prescriber types "5" on the way to "500", a prefix is a partial match.
    if all(any(s.startswith(number) for s in strengths) for number in numbers):
        return STRENGTH_PREFIX_PENALTY
    return STRENGTH_MISMATCH_PENALTY
