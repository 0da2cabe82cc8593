"""What reconciliation needs to know of a catalogue release, derived once per release.

Substances are compared by a canonical id: FEST links a base substance to its salt and ester forms
(Virkestoff.RefVirkestoff: Metoprolol -> Metoprololsuksinat), and a product names whichever form it contains.
Selo-Zok (metoprolol succinate) and a metoprolol tartrate product are the same substance for reconciliation,
so each linked group of substances gets one canonical id: the base's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from interactions.model import Catalogue, Product
from interactions.search import ParsedQuery, normalise
from pml.reconciliation.interpretation.strength import Strength, catalogue_strength

LEVEL5_ATC_LENGTH = 7

# LegemiddelformKort / LegemiddelformLang words to the dose unit a dose text in that form counts in.
_FORM_UNITS = (
    ("plaster", "plaster"), ("stikkpille", "stikkpille"), ("kapsel", "kapsel"), ("tablett", "tablett"),
    ("dråper", "dråpe"), ("mikstur", "ml"), ("pulver", "dosepose"), ("inhalasjon", "dose"),
    ("injeksjon", "enhet"), ("oppløsning", "ml"),
)  # fmt: skip


def is_level5_atc(code: str | None) -> bool:
    return code is not None and len(code) == LEVEL5_ATC_LENGTH


def dose_unit_of_form(form: str | None) -> str | None:
    """The unit a dose text counts in for this form ("Tablett, filmdrasjert" -> "tablett")."""
    text = (form or "").lower()
    return next((unit for word, unit in _FORM_UNITS if word in text), None)


@dataclass(frozen=True, slots=True)
class ProductFacts:
    product: Product
    substances: frozenset[str]
    strengths: frozenset[Strength]
    # (FEST value as written, canonical strength), so "Selo-Zok 50" can find 50 mg
    written_strengths: tuple[tuple[str, Strength], ...]
    dose_unit: str | None


@dataclass(frozen=True, slots=True)
class BrandChoice:
    """The products of a brand a written strength leaves: the product when only one is left, the ATC code and
    dose unit they share."""

    product_id: str | None
    product_name: str | None
    atc: str | None
    dose_unit: str | None


@dataclass(frozen=True, slots=True)
class BrandFacts:
    """A brand name (Varenavn, as the search parses it) whose active products all contain the same substances.
    A written strength picks the products of exactly that strength (`by_strengths`); no strength, or one no
    product has, leaves them all (`every_product`)."""

    substances: frozenset[str]
    substance_names: tuple[str, ...]
    every_product: BrandChoice
    by_strengths: dict[frozenset[Strength], BrandChoice]

    def choice(self, strengths: frozenset[Strength]) -> BrandChoice:
        return self.by_strengths.get(strengths, self.every_product) if strengths else self.every_product


class _UnionFind:
    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        parent = self._parent.setdefault(item, item)
        if parent != item:
            parent = self._parent[item] = self.find(parent)
        return parent

    def union(self, first: str, second: str) -> None:
        self._parent[self.find(first)] = self.find(second)


class CatalogueFacts:
    """Canonical substances, product substances and strengths, varenr and ATC look-ups for one release."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.canonical = _canonical_substances(catalogue)
        self.substance_names = self._substance_names()
        self.substance_of_name = self._substance_of_name()
        self.products = {pid: self._product_facts(p) for pid, p in catalogue.products.items()}
        self.normalised_brands = {pid: normalise(p.brand_name) for pid, p in catalogue.products.items()}
        self.product_of_varenr = {
            package.varenr: package.product_id
            for package in sorted(catalogue.packages.values(), key=lambda p: p.active)  # active ones win
            if package.product_id
        }
        self.substances_of_atc = self._substances_of_atc()
        self.products_of_substances: dict[frozenset[str], list[ProductFacts]] = defaultdict(list)
        for facts in self.products.values():
            self.products_of_substances[facts.substances].append(facts)
        # What every resolution to a substance set asks, answered once per release.
        self._names: dict[frozenset[str], tuple[str, ...]] = {}
        self.atc_of_substances: dict[frozenset[str], str | None] = {}
        self.dose_unit_of_substances: dict[frozenset[str], str | None] = {}
        for substances, products in self.products_of_substances.items():
            self._names[substances] = self.names_of(substances)
            self.atc_of_substances[substances] = common_atc(products)
            self.dose_unit_of_substances[substances] = _single({facts.dose_unit for facts in products})
        self.rival_names, self.rival_owners = self._rival_index()
        self.products_of_brand: dict[str, list[ProductFacts]] = defaultdict(list)
        for facts in self.products.values():
            if facts.product.active and facts.substances:
                self.products_of_brand[ParsedQuery.parse(facts.product.brand_name).name].append(facts)
        self.brands, self.candidate_parts = self.brand_and_candidate_tables()

    def brand_and_candidate_tables(
        self,
    ) -> tuple[dict[str, BrandFacts], dict[str, tuple[str, tuple[str, ...]]]]:
        """Worked out once per release, so that resolving a name does not: each brand whose products all have
        the same substances, with what each written strength leaves of them; and each product's name and
        sorted substances as a name candidate shows them."""
        brands = {
            words: self._brand_facts(products)
            for words, products in self.products_of_brand.items()
            if len({facts.substances for facts in products}) == 1
        }
        candidate_parts = {
            pid: (facts.product.name_form_strength, tuple(sorted(facts.substances)))
            for pid, facts in self.products.items()
        }
        return brands, candidate_parts

    def _brand_facts(self, products: list[ProductFacts]) -> BrandFacts:
        by_strengths = {
            strengths: self._brand_choice([facts for facts in products if facts.strengths == strengths])
            for strengths in {facts.strengths for facts in products}
        }
        substances = products[0].substances
        return BrandFacts(substances, self.names_of(substances), self._brand_choice(products), by_strengths)

    @staticmethod
    def _brand_choice(chosen: list[ProductFacts]) -> BrandChoice:
        product = chosen[0].product if len(chosen) == 1 else None
        return BrandChoice(
            product.id if product else None,
            product.name_form_strength if product else None,
            common_atc(chosen),
            _single({facts.dose_unit for facts in chosen}),
        )

    def canonical_id(self, substance_id: str) -> str:
        return self.canonical.get(substance_id, substance_id)

    def names_of(self, substances: frozenset[str]) -> tuple[str, ...]:
        names = self._names.get(substances)
        return tuple(sorted(self.substance_names.get(s, s) for s in substances)) if names is None else names

    def _substance_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for substance in self.catalogue.substances.values():
            canonical = self.canonical_id(substance.id)
            if substance.id == canonical or canonical not in names:
                names[canonical] = substance.name
        return names

    def _substance_of_name(self) -> dict[str, str]:
        """Lower-case Norwegian and English substance names (every salt form too) to canonical ids."""
        found: dict[str, set[str]] = defaultdict(set)
        for substance in self.catalogue.substances.values():
            for name in (substance.name, substance.name_en):
                if name:
                    found[name.lower()].add(self.canonical_id(substance.id))
        return {name: ids.pop() for name, ids in found.items() if len(ids) == 1}

    def _rival_index(self) -> tuple[list[str], list[tuple[tuple[frozenset[str], bool], ...]]]:
        """Every brand and substance name (as the search normalises names), each with the substance sets it
        stands for and whether it is a brand. Name resolution checks rivals here across the whole catalogue,
        not only among the search's first candidates, which a prefix tier may have narrowed."""
        owners: dict[str, set[tuple[frozenset[str], bool]]] = defaultdict(set)
        for facts in self.products.values():
            if not facts.product.active or not facts.substances:
                continue
            owners[ParsedQuery.parse(facts.product.brand_name).name].add((facts.substances, True))
            for substance in facts.substances:
                record = self.catalogue.substances.get(substance)
                for name in (self.substance_names.get(substance), record.name_en if record else None):
                    if name:
                        owners[ParsedQuery.parse(name).name].add((facts.substances, False))
        names = sorted(name for name in owners if name)
        return names, [tuple(sorted(owners[name], key=lambda o: (sorted(o[0]), o[1]))) for name in names]

    def _product_facts(self, product: Product) -> ProductFacts:
        substances: set[str] = set()
        strengths: set[Strength] = set()
        written: list[tuple[str, Strength]] = []
        for strength_id in product.strength_ids:
            record = self.catalogue.strengths.get(strength_id)
            if record is None or record.substance_id is None:
                continue
            substances.add(self.canonical_id(record.substance_id))
            parsed = catalogue_strength(
                record.strength_value, record.strength_unit, record.denominator_value, record.denominator_unit
            )
            if parsed is not None and record.strength_value:
                strengths.add(parsed)
                written.append((record.strength_value, parsed))
        unit = dose_unit_of_form(product.form_long) or dose_unit_of_form(product.form)
        return ProductFacts(product, frozenset(substances), frozenset(strengths), tuple(written), unit)

    def _substances_of_atc(self) -> dict[str, frozenset[frozenset[str]]]:
        found: dict[str, set[frozenset[str]]] = defaultdict(set)
        for facts in self.products.values():
            if is_level5_atc(facts.product.atc) and facts.substances:
                found[facts.product.atc or ""].add(facts.substances)
        for substance in self.catalogue.substances.values():
            if is_level5_atc(substance.atc):
                found[substance.atc or ""].add(frozenset({self.canonical_id(substance.id)}))
        return {atc: frozenset(sets) for atc, sets in found.items()}


def common_atc(products: list[ProductFacts]) -> str | None:
    """The ATC code all these products share, if they have exactly one between them."""
    return _single({p.product.atc for p in products if p.product.atc})


def _single(values: set[str | None]) -> str | None:
    return values.pop() if len(values) == 1 else None


def _canonical_substances(catalogue: Catalogue) -> dict[str, str]:
    """Each substance id to its group's canonical id: the base substance that references the others."""
    groups = _UnionFind()
    for substance in catalogue.substances.values():
        groups.find(substance.id)
        for related in substance.related_ids:
            groups.union(related, substance.id)
    members: dict[str, list[str]] = defaultdict(list)
    for substance_id in list(catalogue.substances):
        members[groups.find(substance_id)].append(substance_id)
    canonical: dict[str, str] = {}
    for group in members.values():
        bases = sorted(s for s in group if catalogue.substances[s].related_ids)
        representative = bases[0] if bases else min(group)
        canonical.update(dict.fromkeys(group, representative))
    return canonical
