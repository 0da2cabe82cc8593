"""Typed keyword-only builders of catalogue records, for tests, benchmarks and demo data.

Ids are generated ("ID_TEST-product-7") unless given. Nothing here is clinical data.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from interactions.model import (
    STATUS_ACTIVE,
    Catalogue,
    CatalogueRecord,
    GroupMember,
    InteractionRecord,
    NotAssessed,
    Package,
    Product,
    Reference,
    Substance,
    SubstanceGroup,
    SubstanceWithStrength,
    catalogue_from_records,
)

_serial = itertools.count(1)


def _new_id(kind: str) -> str:
    return f"ID_TEST-{kind}-{next(_serial)}"


def make_substance(
    *, name: str, id: str | None = None, related_ids: Sequence[str] = (), status: str = STATUS_ACTIVE
) -> Substance:
    return Substance(id=id or _new_id("substance"), name=name, related_ids=tuple(related_ids), status=status)


def make_strength(
    *,
    substance: Substance,
    value: str,
    unit: str = "mg",
    combination_atc: str | None = None,
    id: str | None = None,
) -> SubstanceWithStrength:
    return SubstanceWithStrength(
        id=id or _new_id("strength"),
        substance_id=substance.id,
        strength_value=value,
        strength_unit=unit,
        combination_atc=combination_atc,
    )


def make_product(
    *,
    brand_name: str,
    name_form_strength: str,
    atc: str | None,
    strengths: Sequence[SubstanceWithStrength] = (),
    form: str = "Tablett",
    id: str | None = None,
    status: str = STATUS_ACTIVE,
) -> Product:
    return Product(
        id=id or _new_id("product"),
        brand_name=brand_name,
        name_form_strength=name_form_strength,
        atc=atc,
        form=form,
        strength_ids=tuple(strength.id for strength in strengths),
        status=status,
    )


def make_package(
    *, product: Product, varenr: str, ean: str | None = None, status: str = STATUS_ACTIVE
) -> Package:
    return Package(
        id=_new_id("package"),
        varenr=varenr,
        product_id=product.id,
        ean=ean,
        atc=product.atc,
        name_form_strength=product.name_form_strength,
        status=status,
    )


def member(name: str, atc: str | None = None, substance_ids: Iterable[str] = ()) -> GroupMember:
    return GroupMember(name=name, atc=atc, substance_ids=tuple(substance_ids))


def make_interaction(
    *,
    first: Sequence[GroupMember],
    second: Sequence[GroupMember],
    relevans: int = 1,
    display_rules: Sequence[int] = (1, 2, 3, 4),
    handling: str | None = None,
    status: str = STATUS_ACTIVE,
    id: str | None = None,
) -> InteractionRecord:
    return InteractionRecord(
        id=id or _new_id("interaction"),
        entry_id=_new_id("entry"),
        relevans=relevans,
        clinical_consequence="Testinteraksjon (ikke klinisk informasjon).",
        groups=(SubstanceGroup(members=tuple(first)), SubstanceGroup(members=tuple(second))),
        source_basis="4",
        handling=handling,
        display_rules=tuple(display_rules),
        references=(Reference(source="Testkilde", link=None),),
        status=status,
    )


def make_not_assessed(*, atc: str, status: str = STATUS_ACTIVE) -> NotAssessed:
    return NotAssessed(entry_id=_new_id("entry"), atc=atc, status=status)


def make_catalogue(*records: CatalogueRecord, hentet_dato: str = "2026-01-01T00:00:00") -> Catalogue:
    return catalogue_from_records(hentet_dato, records)
