"""Catalogue records: the parts of FEST (M30) that PML uses, as plain frozen dataclasses.

Every record round-trips through JSON-compatible dicts (`to_dict` / `from_dict`), because
catalogue releases are persisted as PostgreSQL JSONB and rebuilt from it. Field names are
English; each class docstring names the FEST element it comes from. Ids are FEST ids
(`ID_<uuid>`) and references between records are by id, so a reference may dangle (a
FEST extract can point outside itself): consumers must tolerate a missing target.

Codes keep their FEST values: `status` is code set 7446 ("A" active, "U" withdrawn),
`relevans` 7483 (1 avoid, 2 take precautions, 3 no action needed), `source_basis` 7485,
`display_rules` 7442 (1 GP, 2 specialist, 3 hospital, 4 pharmacy, 5 veterinary).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

STATUS_ACTIVE = "A"
STATUS_WITHDRAWN = "U"

RELEVANS_AVOID = 1
RELEVANS_PRECAUTIONS = 2
RELEVANS_NO_ACTION = 3

_Record = TypeVar("_Record")


def _flat_from_dict(cls: type[_Record], data: Mapping[str, Any]) -> _Record:
    """Rebuild a record whose fields are scalars or tuples of scalars (JSON gives lists)."""
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}
    return cls(**values)


class _Serialisable:
    """Mixin: `to_dict` via dataclasses.asdict; flat records get `from_dict` for free."""

    __slots__ = ()
    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    @property
    def active(self) -> bool:
        """False for withdrawn (Status U) records, which stay out of the active view."""
        return getattr(self, "status", STATUS_ACTIVE) != STATUS_WITHDRAWN


@dataclass(frozen=True, slots=True)
class Substance(_Serialisable):
    """Virkestoff: an active substance. `related_ids` are its RefVirkestoff (salt/base forms)."""

    kind: ClassVar[str] = "substance"
    id: str
    name: str
    name_en: str | None = None
    atc: str | None = None
    related_ids: tuple[str, ...] = ()
    status: str = STATUS_ACTIVE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Substance:
        return _flat_from_dict(cls, data)


@dataclass(frozen=True, slots=True)
class SubstanceWithStrength(_Serialisable):
    """VirkestoffMedStyrke: a substance at a strength (Styrke, optional StyrkeNevner).

    Values stay strings ("9.6") so no precision is lost on the way through JSON.
    `combination_atc` is AtcKombipreparat: the substance's own ATC inside a combination product.
    """

    kind: ClassVar[str] = "substance_with_strength"
    id: str
    substance_id: str | None
    strength_value: str | None = None
    strength_unit: str | None = None
    denominator_value: str | None = None
    denominator_unit: str | None = None
    combination_atc: str | None = None
    status: str = STATUS_ACTIVE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubstanceWithStrength:
        return _flat_from_dict(cls, data)

    @property
    def strength_text(self) -> str:
        """Human strength, e.g. "50 mg/5 ml"; empty when the record carries none."""
        text = " ".join(part for part in (self.strength_value, self.strength_unit) if part)
        if self.denominator_value or self.denominator_unit:
            denominator = " ".join(p for p in (self.denominator_value, self.denominator_unit) if p)
            text = f"{text}/{denominator}"
        return text


@dataclass(frozen=True, slots=True)
class Product(_Serialisable):
    """LegemiddelMerkevare: a brand product in one form and strength."""

    kind: ClassVar[str] = "product"
    id: str
    brand_name: str
    name_form_strength: str
    atc: str | None = None
    form: str | None = None
    form_code: str | None = None
    form_long: str | None = None
    route: str | None = None
    strength_ids: tuple[str, ...] = ()
    status: str = STATUS_ACTIVE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Product:
        return _flat_from_dict(cls, data)


@dataclass(frozen=True, slots=True)
class Package(_Serialisable):
    """Legemiddelpakning: a package with its varenr (and EAN when it has one)."""

    kind: ClassVar[str] = "package"
    id: str
    varenr: str
    product_id: str | None
    ean: str | None = None
    atc: str | None = None
    name_form_strength: str | None = None
    swap_group_id: str | None = None
    status: str = STATUS_ACTIVE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Package:
        return _flat_from_dict(cls, data)


@dataclass(frozen=True, slots=True)
class SwapGroup(_Serialisable):
    """Byttegruppe: packages a pharmacy may substitute for each other."""

    kind: ClassVar[str] = "swap_group"
    id: str
    code: str
    name: str | None = None
    status: str = STATUS_ACTIVE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SwapGroup:
        return _flat_from_dict(cls, data)


@dataclass(frozen=True, slots=True)
class Reference:
    """Referanse: a literature source of an interaction and its link, if any."""

    source: str
    link: str | None = None


@dataclass(frozen=True, slots=True)
class GroupMember:
    """Substans inside a Substansgruppe: a name plus an ATC code and/or virkestoff ids.

    An ATC code at levels 1-4 covers every code below it; a level-5 code matches exactly.
    Members without ATC (herbals such as Perikum) are matched by `substance_ids`.
    """

    name: str
    atc: str | None = None
    substance_ids: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupMember:
        return _flat_from_dict(cls, data)


@dataclass(frozen=True, slots=True)
class SubstanceGroup:
    """Substansgruppe: one side of an interaction."""

    members: tuple[GroupMember, ...]
    name: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubstanceGroup:
        members = tuple(GroupMember.from_dict(member) for member in data["members"])
        return cls(members=members, name=data.get("name"))


@dataclass(frozen=True, slots=True)
class InteractionRecord(_Serialisable):
    """Interaksjon: a clinically assessed interaction between two substance groups.

    `id` is the inner Interaksjon Id (stable across versions); `entry_id` is the
    OppfInteraksjon Id, which changes with each version. `handling` keeps its paragraphs
    separated by newlines.
    """

    kind: ClassVar[str] = "interaction"
    id: str
    entry_id: str
    relevans: int
    clinical_consequence: str
    groups: tuple[SubstanceGroup, SubstanceGroup]
    situation_criterion: str | None = None
    mechanism: str | None = None
    source_basis: str | None = None
    handling: str | None = None
    display_rules: tuple[int, ...] = ()
    references: tuple[Reference, ...] = ()
    status: str = STATUS_ACTIVE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InteractionRecord:
        values = dict(data)
        first, second = (SubstanceGroup.from_dict(group) for group in values.pop("groups"))
        values["groups"] = (first, second)
        values["references"] = tuple(Reference(**ref) for ref in values.pop("references", ()))
        values["display_rules"] = tuple(values.pop("display_rules", ()))
        return cls(**values)

    @property
    def handling_paragraphs(self) -> tuple[str, ...]:
        """The handling text split into its non-empty paragraphs."""
        if not self.handling:
            return ()
        return tuple(line.strip() for line in self.handling.splitlines() if line.strip())


@dataclass(frozen=True, slots=True)
class NotAssessed(_Serialisable):
    """InteraksjonIkkeVurdert: an ATC code whose interactions DMP has not assessed.

    "Not assessed" is not "no interaction": checks report it separately.
    """

    kind: ClassVar[str] = "not_assessed"
    entry_id: str
    atc: str
    name: str | None = None
    status: str = STATUS_ACTIVE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NotAssessed:
        return _flat_from_dict(cls, data)


CatalogueRecord = (
    Substance | SubstanceWithStrength | Product | Package | SwapGroup | InteractionRecord | NotAssessed
)

RECORD_TYPES: dict[str, type[CatalogueRecord]] = {
    cls.kind: cls
    for cls in (Substance, SubstanceWithStrength, Product, Package, SwapGroup, InteractionRecord, NotAssessed)
}


def record_from_dict(kind: str, data: Mapping[str, Any]) -> CatalogueRecord:
    """Rebuild one record from its `kind` (e.g. a DB column) and its `to_dict()` form."""
    return RECORD_TYPES[kind].from_dict(data)


def _by_id(records: Iterable[Any]) -> dict[str, Any]:
    return {record.id: record for record in records}


@dataclass(slots=True)
class Catalogue:
    """One catalogue release: HentetDato plus every record, keyed by FEST id.

    Mutable only while it is being assembled (by the parser or from DB rows); treat it as
    read-only once handed to `InteractionIndex.compile` or `CatalogueSearch`.
    """

    hentet_dato: str
    substances: dict[str, Substance] = field(default_factory=dict)
    strengths: dict[str, SubstanceWithStrength] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)
    packages: dict[str, Package] = field(default_factory=dict)
    swap_groups: dict[str, SwapGroup] = field(default_factory=dict)
    interactions: dict[str, InteractionRecord] = field(default_factory=dict)
    not_assessed: list[NotAssessed] = field(default_factory=list)

    def add(self, record: CatalogueRecord) -> None:
        """File a record under its kind (a later record with the same id replaces the earlier)."""
        if isinstance(record, NotAssessed):
            self.not_assessed.append(record)
        else:
            getattr(self, _COLLECTION_OF_KIND[record.kind])[record.id] = record

    def records(self) -> Iterable[CatalogueRecord]:
        """Every record, kind by kind (the order a loader may persist them in)."""
        for collection in _COLLECTION_OF_KIND.values():
            yield from getattr(self, collection).values()
        yield from self.not_assessed

    def counts(self) -> dict[str, int]:
        """Number of records per kind."""
        counts = {kind: len(getattr(self, collection)) for kind, collection in _COLLECTION_OF_KIND.items()}
        counts[NotAssessed.kind] = len(self.not_assessed)
        return counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form: {"hentet_dato": ..., "<kind>": [record dicts], ...}."""
        result: dict[str, Any] = {"hentet_dato": self.hentet_dato}
        for kind in RECORD_TYPES:
            result[kind] = []
        for record in self.records():
            result[record.kind].append(record.to_dict())
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalogue:
        """Inverse of `to_dict`."""
        rows = ((kind, row) for kind in RECORD_TYPES for row in data.get(kind, ()))
        return catalogue_from_rows(data["hentet_dato"], rows)


_COLLECTION_OF_KIND: dict[str, str] = {
    Substance.kind: "substances",
    SubstanceWithStrength.kind: "strengths",
    Product.kind: "products",
    Package.kind: "packages",
    SwapGroup.kind: "swap_groups",
    InteractionRecord.kind: "interactions",
}


def catalogue_from_rows(hentet_dato: str, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> Catalogue:
    """Rebuild a catalogue from (kind, record dict) rows, e.g. read back from JSONB."""
    catalogue = Catalogue(hentet_dato=hentet_dato)
    for kind, data in rows:
        catalogue.add(record_from_dict(kind, data))
    return catalogue


def catalogue_from_records(hentet_dato: str, records: Iterable[CatalogueRecord]) -> Catalogue:
    """Assemble a catalogue from records (parser output, test factories)."""
    catalogue = Catalogue(hentet_dato=hentet_dato)
    for record in records:
        catalogue.add(record)
    return catalogue
