"""The interaction engine: a catalogue release compiled into an in-memory index.

Matching follows DMP's FEST implementation guide:

* an interaction record has two substance groups; a pair of checked items interacts when one
  item is covered by a member of the first group and the other by a member of the second;
* an ATC code in a record covers every code that starts with it: levels 1-4 (short codes)
  cover everything below them, a level-5 code matches exactly. An ATC *item* is taken
  literally: the class code "N06AA" is covered by records on N06AA or N06A, but not by a
  record on N06AA09 (we cannot know which member of the class is meant);
* members without ATC (herbals such as Perikum) match by virkestoff id. An item's virkestoff
  ids include the ids its substances reference (RefVirkestoff) and the ids that reference
  them, one level, so a salt matches its base and a base its salt;
* a product resolves to its ATC, the AtcKombipreparat codes of its substances (so each
  ingredient of a combination product is checked on its own) and its substances' ids; a
  package (varenr) resolves through its product.

Speed: `compile` resolves every product, package, substance and level-5 ATC code of the
release once, to a *profile* (its ATC codes, virkestoff ids, not-assessed records, and the
records whose first and whose second group cover it). Profiles that are covered by exactly
the same records share a *signature*, and for every pair of signatures that some record
covers, the covering records are precomputed, each with its orientation (which of the two
signatures its first group covers). A check of n items is then n dict lookups to resolve,
then per distinct signature one big-integer AND of its precomputed partner bitmask with the
bitmask of the signatures present (C-level, a few hundred ns however many partners it has);
only actual hits cost more. An item the release does not know (an ATC code no product has)
is profiled at check time; if its coverage matches no signature, its pairs fall back to set
intersections, which is correct but slower.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from interactions.model import (
    RELEVANS_NO_ACTION,
    Catalogue,
    GroupMember,
    InteractionRecord,
    NotAssessed,
    Reference,
    SubstanceGroup,
)

ItemKind = Literal["product", "varenr", "atc", "substance"]

_ATC_SHAPE = re.compile(r"^[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?$")
_AD_HOC = -1

# How a record covers a pair of signatures (p, q): its first group covers p and its second q
# (FORWARD), the other way round (BACKWARD), or both (then items are ordered by identity).
_FORWARD = 1
_BACKWARD = 2
_BOTH = _FORWARD | _BACKWARD

# A covered pair: positions of the items with signatures p and q, and (record number, how) pairs.
_Covered = tuple[int, int, tuple[tuple[int, int], ...]]

# Visningsregel (code set 7442): the settings an interaction is meant to be shown in.
SETTING_GP = 1
SETTING_SPECIALIST = 2
SETTING_HOSPITAL = 3
SETTING_PHARMACY = 4


class NoActiveIndexError(RuntimeError):
    """No catalogue release has been activated yet."""


def atc_prefixes(code: str) -> tuple[str, ...]:
    """The code and every code it starts with: the record codes that can cover it."""
    return tuple(code[:length] for length in range(1, len(code) + 1))


def is_atc_code(code: str) -> bool:
    """True for a well-formed ATC code at any level (A, A01, A01A, A01AB, A01AB01)."""
    return bool(_ATC_SHAPE.match(code))


@dataclass(frozen=True, slots=True)
class CheckItem:
    """One thing to check: a product (merkevare id), a package (varenr), an ATC code or a
    virkestoff id. `label` is the caller's display name and does not affect matching."""

    kind: ItemKind
    value: str
    label: str | None = field(default=None, compare=False)

    @classmethod
    def product(cls, product_id: str, label: str | None = None) -> CheckItem:
        return cls("product", product_id, label)

    @classmethod
    def varenr(cls, varenr: str, label: str | None = None) -> CheckItem:
        return cls("varenr", varenr, label)

    @classmethod
    def atc(cls, code: str, label: str | None = None) -> CheckItem:
        return cls("atc", code.strip().upper(), label)

    @classmethod
    def substance(cls, substance_id: str, label: str | None = None) -> CheckItem:
        return cls("substance", substance_id, label)


@dataclass(frozen=True, slots=True)
class _Profile:
    """What an item matches by, and the records whose first / second group cover it."""

    atc_codes: frozenset[str]
    substance_ids: frozenset[str]
    first_side: frozenset[int]
    second_side: frozenset[int]
    not_assessed: tuple[NotAssessed, ...]
    signature: int
    level5_atc_codes: frozenset[str]


@dataclass(frozen=True, slots=True)
class ResolvedItem:
    """A check item as the release understands it."""

    item: CheckItem
    label: str
    profile: _Profile

    @property
    def atc_codes(self) -> frozenset[str]:
        return self.profile.atc_codes

    @property
    def substance_ids(self) -> frozenset[str]:
        return self.profile.substance_ids

    @property
    def level5_atc_codes(self) -> frozenset[str]:
        return self.profile.level5_atc_codes


@dataclass(frozen=True, slots=True)
class MatchedSide:
    """One side of a finding: the checked item and the record member that covered it."""

    item: CheckItem
    label: str
    member: GroupMember
    group_name: str | None

    @property
    def substance(self) -> str:
        return self.member.name

    @property
    def atc(self) -> str | None:
        return self.member.atc


_tuple_new = tuple.__new__


class Finding(NamedTuple):
    """An interaction record that covers a pair of checked items: `first` is the item covered
    by the record's first substance group, `second` the one covered by its second group.
    The clinical fields are read from the record (shared, never copied per check), and the
    matched sides are worked out when read, so an unread finding costs next to nothing.
    (A NamedTuple because checks build many of them and tuples are built in C.)"""

    record: InteractionRecord
    release_id: str
    first_item: ResolvedItem
    second_item: ResolvedItem

    @property
    def first(self) -> MatchedSide:
        return _matched_side(self.record.groups[0], self.first_item)

    @property
    def second(self) -> MatchedSide:
        return _matched_side(self.record.groups[1], self.second_item)

    @property
    def interaction_id(self) -> str:
        return self.record.id

    @property
    def entry_id(self) -> str:
        return self.record.entry_id

    @property
    def relevans(self) -> int:
        return self.record.relevans

    @property
    def clinical_consequence(self) -> str:
        return self.record.clinical_consequence

    @property
    def situation_criterion(self) -> str | None:
        return self.record.situation_criterion

    @property
    def mechanism(self) -> str | None:
        return self.record.mechanism

    @property
    def handling(self) -> str | None:
        return self.record.handling

    @property
    def source_basis(self) -> str | None:
        return self.record.source_basis

    @property
    def references(self) -> tuple[Reference, ...]:
        return self.record.references

    @property
    def display_rules(self) -> tuple[int, ...]:
        return self.record.display_rules

    @property
    def items(self) -> frozenset[CheckItem]:
        return frozenset((self.first_item.item, self.second_item.item))


@dataclass(frozen=True, slots=True)
class NotAssessedFinding:
    """An item whose ATC code DMP has not assessed for interactions (not "no interaction")."""

    item: CheckItem
    label: str
    atc: str
    entry_id: str
    release_id: str


@dataclass(frozen=True, slots=True)
class Duplication:
    """Therapeutic duplication: distinct items resolving to the same level-5 ATC code."""

    atc: str
    items: tuple[CheckItem, ...]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Everything one check found, naming the catalogue release it used."""

    release_id: str
    hentet_dato: str
    findings: tuple[Finding, ...]
    not_assessed: tuple[NotAssessedFinding, ...]
    duplications: tuple[Duplication, ...]
    unresolved: tuple[CheckItem, ...]


@dataclass(frozen=True, slots=True)
class _Filter:
    include_relevans_3: bool
    setting: int | None
    active_only: bool

    def shows(self, record: InteractionRecord) -> bool:
        """Visningsregel decision: a record that lists display rules is shown only in the
        settings it lists; a record that lists none is not restricted by setting. Relevans 3
        ("no action needed", DMP guide 8.1.2) stays silent unless asked for, whatever the
        setting, and withdrawn (Status U) records only appear when active_only is off."""
        if self.active_only and not record.active:
            return False
        if record.relevans == RELEVANS_NO_ACTION and not self.include_relevans_3:
            return False
        if self.setting is None or not record.display_rules:
            return True
        return self.setting in record.display_rules


_DEFAULT_VIEW = _Filter(include_relevans_3=False, setting=None, active_only=True)


class _SideIndex:
    """Per record code / virkestoff id: the records whose first and second side name it."""

    def __init__(self, records: Sequence[InteractionRecord]) -> None:
        self.by_code: dict[str, tuple[set[int], set[int]]] = defaultdict(lambda: (set(), set()))
        self.by_substance: dict[str, tuple[set[int], set[int]]] = defaultdict(lambda: (set(), set()))
        self.names: dict[str, str] = {}
        for number, record in enumerate(records):
            for side, group in enumerate(record.groups):
                for member in group.members:
                    self._add_member(member, side, number)

    def _add_member(self, member: GroupMember, side: int, number: int) -> None:
        if member.atc:
            self.by_code[member.atc][side].add(number)
        for substance_id in member.substance_ids:
            self.by_substance[substance_id][side].add(number)
            self.names.setdefault(substance_id, member.name)

    def sides(self, atc_codes: Iterable[str], substance_ids: Iterable[str]) -> tuple[frozenset[int], ...]:
        first: set[int] = set()
        second: set[int] = set()
        keyed = [self.by_code.get(prefix) for code in atc_codes for prefix in atc_prefixes(code)]
        keyed += [self.by_substance.get(substance_id) for substance_id in substance_ids]
        for entry in keyed:
            if entry is not None:
                first |= entry[0]
                second |= entry[1]
        return frozenset(first), frozenset(second)


class InteractionIndex:
    """A compiled, immutable catalogue release. Build with `InteractionIndex.compile`."""

    def __init__(self, catalogue: Catalogue, release_id: str) -> None:
        self.release_id = release_id
        self.hentet_dato = catalogue.hentet_dato
        self.catalogue = catalogue
        self._records: list[InteractionRecord] = list(catalogue.interactions.values())
        self._sides = _SideIndex(self._records)
        self._alerts_by_default = [_DEFAULT_VIEW.shows(record) for record in self._records]
        self._not_assessed_by_code = _group_not_assessed(catalogue.not_assessed)
        self._related = _related_substances(catalogue)
        self._profiles: dict[tuple[frozenset[str], frozenset[str]], _Profile] = {}
        self._signatures: dict[tuple[frozenset[int], frozenset[int]], int] = {}
        self._items: dict[tuple[str, str], ResolvedItem] = {}
        # Per known item with not-assessed codes: the item as resolved and its findings in the default view.
        self._not_assessed_findings: dict[
            tuple[str, str], tuple[ResolvedItem, tuple[NotAssessedFinding, ...]]
        ] = {}
        # What findings are sorted by first: relevans, then record id.
        self._record_keys = [(record.relevans, record.id) for record in self._records]
        self._pair_records: dict[int, tuple[tuple[int, int], ...]] = {}
        self._upper_partners: dict[int, int] = {}
        self._bits: list[int] = []
        self._stride = 0

    @classmethod
    def compile(cls, catalogue: Catalogue, release_id: str) -> InteractionIndex:
        """Compile a catalogue release; the result is safe to share between threads."""
        index = cls(catalogue, release_id)
        index._resolve_catalogue_items()
        index._build_pair_records()
        index._cache_not_assessed_findings()
        return index

    # -- compile ----------------------------------------------------------------------

    def _resolve_catalogue_items(self) -> None:
        for product in self.catalogue.products.values():
            self._remember(
                CheckItem.product(product.id), product.name_form_strength, *self._product_keys(product.id)
            )
        for package in self.catalogue.packages.values():
            keys = (
                self._product_keys(package.product_id)
                if package.product_id in self.catalogue.products
                else None
            )
            keys = keys or ({package.atc} if package.atc else set(), set())
            self._remember(
                CheckItem.varenr(package.varenr), package.name_form_strength or package.varenr, *keys
            )
        for substance_id in self._known_substance_ids():
            substance = self.catalogue.substances.get(substance_id)
            atc_codes = {substance.atc} if substance and substance.atc else set()
            label = substance.name if substance else self._sides.names.get(substance_id, substance_id)
            self._remember(CheckItem.substance(substance_id), label, atc_codes, {substance_id})
        for code in self._known_level5_codes():
            self._remember(CheckItem.atc(code), code, {code}, set())

    def _product_keys(self, product_id: str | None) -> tuple[set[str], set[str]]:
        product = self.catalogue.products.get(product_id or "")
        if product is None:
            return set(), set()
        strengths = [self.catalogue.strengths.get(ref) for ref in product.strength_ids]
        atc_codes = {product.atc} if product.atc else set()
        atc_codes |= {s.combination_atc for s in strengths if s is not None and s.combination_atc}
        substance_ids = {s.substance_id for s in strengths if s is not None and s.substance_id}
        return atc_codes, substance_ids

    def _known_substance_ids(self) -> set[str]:
        ids = set(self.catalogue.substances)
        ids.update(self._sides.by_substance)
        return ids

    def _known_level5_codes(self) -> set[str]:
        codes = {p.atc for p in self.catalogue.products.values() if p.atc}
        codes.update(code for code in self._sides.by_code if len(code) == 7)
        return {code for code in codes if is_atc_code(code)}

    def _remember(self, item: CheckItem, label: str, atc_codes: set[str], substance_ids: set[str]) -> None:
        key = (frozenset(atc_codes), self._expand(substance_ids))
        if key not in self._profiles:
            self._profiles[key] = self._make_profile(*key, intern=True)
        self._items[(item.kind, item.value)] = ResolvedItem(item, label, self._profiles[key])

    def _expand(self, substance_ids: Iterable[str]) -> frozenset[str]:
        expanded: set[str] = set()
        for substance_id in substance_ids:
            expanded |= self._related.get(substance_id, {substance_id})
        return frozenset(expanded)

    def _make_profile(
        self, atc_codes: frozenset[str], substance_ids: frozenset[str], *, intern: bool
    ) -> _Profile:
        first, second = self._sides.sides(atc_codes, substance_ids)
        not_assessed = tuple(
            record
            for code in sorted(atc_codes)
            for prefix in atc_prefixes(code)
            for record in self._not_assessed_by_code.get(prefix, ())
        )
        level5 = frozenset(code for code in atc_codes if len(code) == 7)
        return _Profile(
            atc_codes,
            substance_ids,
            first,
            second,
            not_assessed,
            self._signature(first, second, intern),
            level5,
        )

    def _signature(self, first: frozenset[int], second: frozenset[int], intern: bool) -> int:
        """Number of this coverage; only compile interns new ones (state is frozen after)."""
        key = (first, second)
        if intern and key not in self._signatures:
            self._signatures[key] = len(self._signatures)
        return self._signatures.get(key, _AD_HOC)

    def _cache_not_assessed_findings(self) -> None:
        for key, resolved in self._items.items():
            if resolved.profile.not_assessed:
                self._not_assessed_findings[key] = (
                    resolved,
                    self._not_assessed_of(resolved, active_only=True),
                )

    def _build_pair_records(self) -> None:
        """For every pair of signatures (p, q) some record covers, keyed p * stride + q: the covering records
        in number order, each with how it covers them (_FORWARD: its first group covers p). Per signature p,
        the bitmask of the signatures q >= p it pairs with, so a check finds each unordered pair once."""
        on_first: dict[int, list[int]] = defaultdict(list)
        on_second: dict[int, list[int]] = defaultdict(list)
        for (first, second), signature in self._signatures.items():
            for number in first:
                on_first[number].append(signature)
            for number in second:
                on_second[number].append(signature)
        stride = self._stride = len(self._signatures) + 1
        pairs: dict[int, dict[int, int]] = defaultdict(dict)
        for number, firsts in on_first.items():
            for p in firsts:
                for q in on_second.get(number, ()):
                    forward, backward = pairs[p * stride + q], pairs[q * stride + p]
                    forward[number] = forward.get(number, 0) | _FORWARD
                    backward[number] = backward.get(number, 0) | _BACKWARD
        shared: dict[tuple[int, int], tuple[int, int]] = {}  # one tuple per (record, how): less memory
        self._pair_records = {
            key: tuple(shared.setdefault(entry, entry) for entry in sorted(how.items()))
            for key, how in pairs.items()
        }
        upper: dict[int, list[int]] = defaultdict(list)
        for key in self._pair_records:
            p, q = divmod(key, stride)
            if q >= p:
                upper[p].append(q)
        self._upper_partners = {p: sum(1 << q for q in partners) for p, partners in upper.items()}
        self._bits = [1 << signature for signature in range(len(self._signatures))]

    # -- lookup -----------------------------------------------------------------------

    def resolve(self, item: CheckItem) -> ResolvedItem | None:
        """How the release understands an item, or None if it does not know it."""
        known = self._items.get((item.kind, item.value))
        if known is not None:
            return known if item.label is None else ResolvedItem(item, item.label, known.profile)
        if item.kind == "atc" and is_atc_code(item.value):
            # Not interned: compile-time state stays immutable, so concurrent checks are safe.
            profile = self._make_profile(frozenset({item.value}), frozenset(), intern=False)
            return ResolvedItem(item, item.label or item.value, profile)
        return None

    def interaction(self, interaction_id: str) -> InteractionRecord | None:
        return self.catalogue.interactions.get(interaction_id)

    # -- check ------------------------------------------------------------------------

    def check(
        self,
        items: Iterable[CheckItem],
        *,
        include_relevans_3: bool = False,
        visningsregel: int | None = None,
        active_only: bool = True,
    ) -> CheckResult:
        """Check a set of items against each other.

        `visningsregel` is the caller's setting (1 GP, 2 specialist, 3 hospital, 4 pharmacy);
        see `_Filter.shows` for the exact rule. Items the release does not know are returned
        in `unresolved`, never silently treated as "no interaction". An item given twice is
        checked once.
        """
        default_view = not include_relevans_3 and visningsregel is None and active_only
        rules = None if default_view else _Filter(include_relevans_3, visningsregel, active_only)
        resolved, unresolved = self._resolve_all(items)
        return CheckResult(  # positional, in field order: cheaper on the hot path
            self.release_id,
            self.hentet_dato,
            self._findings(resolved, rules),
            self._not_assessed(resolved, active_only),
            _duplications(resolved),
            tuple(unresolved),
        )

    def _resolve_all(self, items: Iterable[CheckItem]) -> tuple[list[ResolvedItem], list[CheckItem]]:
        resolved: list[ResolvedItem] = []
        unresolved: list[CheckItem] = []
        seen: set[tuple[str, str]] = set()
        known = self._items.get
        for item in items:
            key = (item.kind, item.value)
            if key in seen:
                continue
            seen.add(key)
            found = known(key) if item.label is None else None  # the common case, without a call to resolve()
            if found is None:
                found = self.resolve(item)
            if found is None:
                unresolved.append(item)
            else:
                resolved.append(found)
        return resolved, unresolved

    def _findings(self, resolved: Sequence[ResolvedItem], rules: _Filter | None) -> tuple[Finding, ...]:
        """Findings by relevans, record id and the two items' values (`rules` None: the default view)."""
        records, shown, keys = self._records, self._alerts_by_default, self._record_keys
        ordered: list[tuple[tuple[int, str], str, str, int, Finding]] = []
        for i, j, entries in self._covered_pairs(resolved):
            a, b = resolved[i], resolved[j]
            for number, how in entries:
                # The common case is answered by a precomputed flag, not a method call.
                if shown[number] if rules is None else rules.shows(records[number]):
                    first, second = _oriented(a, b, how)
                    # tuple.__new__ as NamedTuple._make uses it, without a Python-level __new__ per finding
                    finding = _tuple_new(Finding, (records[number], self.release_id, first, second))
                    # Sorted as (key, count) tuples: cheaper than a key function, and as stable.
                    ordered.append((keys[number], first.item.value, second.item.value, len(ordered), finding))
        ordered.sort()
        return tuple([entry[-1] for entry in ordered])

    def _covered_pairs(self, resolved: Sequence[ResolvedItem]) -> list[_Covered]:
        """Pairs (i, j) of item positions with the records covering them and how. The hot path: per distinct
        signature, one big-integer AND of its partners' bitmask with the signatures present, instead of a
        Python-level lookup per pair."""
        signatures = [item.profile.signature for item in resolved]
        distinct = set(signatures)
        bits, partners_of = self._bits, self._upper_partners.get
        present = 0
        for signature in distinct:
            if signature != _AD_HOC:
                present |= bits[signature]
        hits = []
        for signature in distinct:
            partners = partners_of(signature)
            if partners is not None and (common := partners & present):
                while common:  # usually one bit: take them highest first
                    other = common.bit_length() - 1
                    hits.append((signature, other))
                    common ^= bits[other]
        covered = self._hit_pairs(signatures, len(distinct), hits) if hits else []
        if _AD_HOC in distinct:
            covered += _ad_hoc_pairs(resolved)
        return covered

    def _hit_pairs(self, signatures: list[int], distinct: int, hits: list[tuple[int, int]]) -> list[_Covered]:
        pair_records, stride = self._pair_records, self._stride
        if distinct == len(signatures):  # the common case: no two items share a signature
            position = {signature: index for index, signature in enumerate(signatures)}
            return [(position[p], position[q], pair_records[p * stride + q]) for p, q in hits if p != q]
        positions: dict[int, list[int]] = {}
        for index, signature in enumerate(signatures):
            positions.setdefault(signature, []).append(index)
        covered: list[_Covered] = []
        for p, q in hits:
            entries, mine = pair_records[p * stride + q], positions[p]
            if p == q:
                covered += [(i, j, entries) for k, i in enumerate(mine) for j in mine[k + 1 :]]
            else:
                covered += [(i, j, entries) for i in mine for j in positions[q]]
        return covered

    def _not_assessed(
        self, resolved: Sequence[ResolvedItem], active_only: bool
    ) -> tuple[NotAssessedFinding, ...]:
        found: list[NotAssessedFinding] = []
        cached = self._not_assessed_findings.get
        for item in resolved:
            if item.profile.not_assessed:
                known = cached((item.item.kind, item.item.value)) if active_only else None
                # The catalogue's own items (the same object: the same label) have theirs made by compile().
                found += (
                    known[1]
                    if known is not None and known[0] is item
                    else self._not_assessed_of(item, active_only)
                )
        return tuple(found)

    def _not_assessed_of(self, item: ResolvedItem, active_only: bool) -> tuple[NotAssessedFinding, ...]:
        return tuple(
            NotAssessedFinding(item.item, item.label, record.atc, record.entry_id, self.release_id)
            for record in item.profile.not_assessed
            if record.active or not active_only
        )


def _oriented(a: ResolvedItem, b: ResolvedItem, how: int) -> tuple[ResolvedItem, ResolvedItem]:
    """The item covered by the record's first group first. When each item is covered by both groups, order by
    item identity so the result does not depend on input order."""
    if how == _FORWARD:
        return a, b
    if how == _BACKWARD:
        return b, a
    return (a, b) if (a.item.kind, a.item.value) <= (b.item.kind, b.item.value) else (b, a)


def _ad_hoc_pairs(resolved: Sequence[ResolvedItem]) -> list[_Covered]:
    """Pairs involving an item without a compiled signature, by set intersection."""
    covered = []
    for i, a in enumerate(resolved):
        for j in range(i + 1, len(resolved)):
            b = resolved[j].profile
            if _AD_HOC not in (a.profile.signature, b.signature):
                continue
            forward, backward = a.profile.first_side & b.second_side, a.profile.second_side & b.first_side
            entries = [
                (number, (_FORWARD if number in forward else 0) | (_BACKWARD if number in backward else 0))
                for number in sorted(forward | backward)
            ]
            if entries:
                covered.append((i, j, tuple(entries)))
    return covered


def _matched_side(group: SubstanceGroup, item: ResolvedItem) -> MatchedSide:
    return MatchedSide(item.item, item.label, _best_member(group, item.profile), group.name)


def _best_member(group: SubstanceGroup, profile: _Profile) -> GroupMember:
    """The group member that covers the item; the most specific one when several do
    (amitriptyline is reported as "Amitriptylin" rather than its level-4 class)."""
    return max(group.members, key=lambda m: _specificity(m, profile))


def _specificity(member: GroupMember, item: _Profile) -> int:
    if not item.substance_ids.isdisjoint(member.substance_ids):
        return 100
    if member.atc and any(code.startswith(member.atc) for code in item.atc_codes):
        return len(member.atc)
    return 0


def _duplications(resolved: Sequence[ResolvedItem]) -> tuple[Duplication, ...]:
    codes = [code for item in resolved for code in item.profile.level5_atc_codes]
    if len(set(codes)) == len(codes):  # the common case: no code on two items (each item's codes are a set)
        return ()
    by_code: dict[str, list[CheckItem]] = {}
    for item in resolved:
        for code in item.profile.level5_atc_codes:
            by_code.setdefault(code, []).append(item.item)
    return tuple(Duplication(code, tuple(items)) for code, items in sorted(by_code.items()) if len(items) > 1)


def _group_not_assessed(records: Iterable[NotAssessed]) -> dict[str, list[NotAssessed]]:
    grouped: dict[str, list[NotAssessed]] = defaultdict(list)
    for record in records:
        grouped[record.atc].append(record)
    return dict(grouped)


def _related_substances(catalogue: Catalogue) -> dict[str, set[str]]:
    """Each virkestoff id with the ids it references and the ids referencing it (one level)."""
    related: dict[str, set[str]] = defaultdict(set)
    for substance in catalogue.substances.values():
        related[substance.id].add(substance.id)
        for other in substance.related_ids:
            related[substance.id].add(other)
            related[other].update((other, substance.id))
    return dict(related)


class IndexHolder:
    """Holds the active index. Activating a release is one reference assignment, so checks
    in flight keep the index they started with and never wait for a swap."""

    def __init__(self, index: InteractionIndex | None = None) -> None:
        self._index = index

    @property
    def current(self) -> InteractionIndex:
        index = self._index
        if index is None:
            raise NoActiveIndexError("no catalogue release is active")
        return index

    @property
    def is_active(self) -> bool:
        return self._index is not None

    def swap(self, index: InteractionIndex | None) -> InteractionIndex | None:
        """Activate `index` (compiled beforehand) and return the one it replaces."""
        previous, self._index = self._index, index
        return previous
