"""Catalogue and interaction-check types shared by the services and the API.

Release ids are opaque strings outside the repository (the database numbers them), so a client never does
arithmetic on them. Every result names the release it was computed from.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Code set 7483 (Relevans) and 7485 (Kildegrunnlag), as DMP words them.
RELEVANS_TEXT: dict[int, str] = {1: "Bør unngås", 2: "Forholdsregler bør tas", 3: "Ingen tiltak nødvendig"}
SOURCE_BASIS_TEXT: dict[str, str] = {
    "1": "Interaksjonsstudier",
    "2": "Kasusrapporter",
    "3": "Interaksjonsstudier og kasusrapporter",
    "4": "Indirekte data",
}

ItemKind = Literal["product", "varenr", "atc", "substance", "name"]
Visningsregel = Annotated[
    int,
    Field(ge=1, le=5, description="the caller's setting (7442): 1 GP, 2 specialist, 3 hospital, 4 pharmacy"),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReleaseInfo(StrictModel):
    """A catalogue release as stored: its source, content counts and place in the lifecycle."""

    id: str
    source_name: str
    sha256: str
    size_bytes: int | None
    hentet_dato: str | None = Field(description="FEST HentetDato: when DMP produced the file")
    status: Literal["loading", "loaded", "active", "previous", "failed"]
    counts: dict[str, int] = Field(description="records per kind, Status U included")
    withdrawn: dict[str, int] = Field(
        description="records per kind with Status U (stored, not in the active view)"
    )
    skipped: dict[str, int] = Field(description="entries of FEST catalogues PML does not use")
    created_at: dt.datetime
    loaded_at: dt.datetime | None
    load_seconds: float | None
    activated_at: dt.datetime | None
    error: str | None = Field(description="why a failed load failed")


class ReleaseList(StrictModel):
    releases: list[ReleaseInfo]
    active_release_id: str | None


class ServedRelease(StrictModel):
    """The release this API node checks against, and the one the database says is active (they differ for at
    most the refresh interval after an activation)."""

    release: ReleaseInfo
    database_active_release_id: str | None


# -- catalogue look-ups --------------------------------------------------------------------------------------


class ProductSummary(StrictModel):
    id: str
    brand_name: str
    name_form_strength: str
    atc: str | None
    form: str | None
    status: str


class IngredientOut(StrictModel):
    substance_id: str | None
    name: str | None
    strength: str | None
    combination_atc: str | None = None


class PackageSummary(StrictModel):
    id: str
    varenr: str
    ean: str | None
    name_form_strength: str | None
    status: str


class SwapGroupOut(StrictModel):
    id: str
    code: str
    name: str | None


class ProductOut(ProductSummary):
    release_id: str
    form_long: str | None
    route: str | None
    ingredients: list[IngredientOut]
    packages: list[PackageSummary]


class PackageOut(PackageSummary):
    release_id: str
    atc: str | None
    product: ProductSummary | None = Field(description="null when the package points outside the release")
    swap_group: SwapGroupOut | None


class SearchHitOut(StrictModel):
    product: ProductSummary
    score: float = Field(description="0-100, higher is better")


class SearchPageOut(StrictModel):
    release_id: str
    query: str
    total: int
    offset: int
    limit: int
    hits: list[SearchHitOut]


# -- interaction checks --------------------------------------------------------------------------------------


class CheckItemIn(StrictModel):
    """One thing to check. `kind` says what `value` is: a FEST LegemiddelMerkevare id (`product`), a package
    number (`varenr`), an ATC code at any level (`atc`), a FEST Virkestoff id (`substance`), or a free-text
    name (`name`) that is resolved through the catalogue search only when the match is unambiguous."""

    kind: ItemKind
    value: str = Field(min_length=1, max_length=200)
    label: str | None = Field(
        default=None, max_length=200, description="your display name; not used to match"
    )


class CheckOptions(StrictModel):
    include_relevans_3: bool = Field(default=False, description="also report relevans 3 (no action needed)")
    visningsregel: Visningsregel | None = None


class CheckRequest(CheckOptions):
    items: list[CheckItemIn] = Field(min_length=1, max_length=200)


class PatientCheckRequest(CheckOptions):
    proposed: list[CheckItemIn] = Field(
        default_factory=list, max_length=50, description="medicines being considered, checked with the list"
    )


class ItemOut(StrictModel):
    """A checked item, and where it came from: list entries (patient checks) or the proposed additions."""

    kind: ItemKind
    value: str
    label: str
    entry_ids: list[uuid.UUID] = Field(
        default_factory=list, description="the list entries this item stands for"
    )
    proposed: bool = False


class MatchedSideOut(ItemOut):
    substance: str = Field(description="the record's substance that covers the item")
    atc: str | None = Field(description="that substance's ATC code in the record (levels 1-4 cover a class)")
    group_name: str | None


class ReferenceOut(StrictModel):
    source: str
    link: str | None


class FindingOut(StrictModel):
    """One interaction record covering a pair of checked items."""

    interaction_id: str = Field(description="FEST Interaksjon Id, stable across versions")
    fest_entry_id: str = Field(description="FEST OppfInteraksjon Id of this version")
    release_id: str
    relevans: int = Field(description="1 avoid, 2 take precautions, 3 no action needed")
    relevans_text: str
    clinical_consequence: str
    mechanism: str | None
    handling: str | None
    situation_criterion: str | None = Field(description="when the record applies, e.g. a dose threshold")
    source_basis: str | None
    source_basis_text: str | None
    references: list[ReferenceOut]
    display_rules: list[int] = Field(description="Visningsregel codes the record is meant for (empty = all)")
    first: MatchedSideOut
    second: MatchedSideOut


class NotAssessedOut(ItemOut):
    """An item whose ATC code DMP has not assessed for interactions: this is not "no interaction"."""

    atc: str
    fest_entry_id: str


class DuplicationOut(StrictModel):
    """Therapeutic duplication: two or more items with the same ATC level-5 substance."""

    atc: str
    items: list[ItemOut]


class UnresolvedOut(ItemOut):
    """An item the release does not know; it was NOT checked."""

    reason: str
    candidates: list[ProductSummary] = Field(default_factory=list, description="for names: possible products")


class ResolvedNameOut(StrictModel):
    name: str
    product: ProductSummary
    score: float


class CheckResultOut(StrictModel):
    release_id: str
    hentet_dato: str
    findings: list[FindingOut]
    not_assessed: list[NotAssessedOut]
    duplications: list[DuplicationOut]
    unresolved: list[UnresolvedOut]
    resolved_names: list[ResolvedNameOut] = Field(description="how each free-text name was understood")


class PatientCheckResultOut(CheckResultOut):
    patient_id: str
    list_version: int = Field(description="the list version whose active entries were checked")


class ActivationOut(StrictModel):
    active: ReleaseInfo
    replaced: ReleaseInfo | None
    changed: bool = Field(description="false when the release was already active")
