"""Catalogue look-ups and name search, answered from the compiled release in memory (no database round trip).

The active view: withdrawn (Status U) products and packages are left out unless the caller asks for them,
e.g. to show what an old list entry referred to.
"""

from __future__ import annotations

from interactions.model import Package, Product
from pml.catalogue.compiled import CompiledRelease
from pml.catalogue.errors import PackageNotFound, ProductNotFound
from pml.catalogue.schemas import (
    IngredientOut,
    PackageOut,
    PackageSummary,
    ProductOut,
    ProductSummary,
    SearchHitOut,
    SearchPageOut,
    SwapGroupOut,
)


def product_summary(product: Product) -> ProductSummary:
    return ProductSummary(
        id=product.id,
        brand_name=product.brand_name,
        name_form_strength=product.name_form_strength,
        atc=product.atc,
        form=product.form,
        status=product.status,
    )


def _package_summary(package: Package) -> PackageSummary:
    return PackageSummary(
        id=package.id,
        varenr=package.varenr,
        ean=package.ean,
        name_form_strength=package.name_form_strength,
        status=package.status,
    )


def _ingredients(compiled: CompiledRelease, product: Product) -> list[IngredientOut]:
    catalogue = compiled.catalogue
    ingredients = []
    for strength_id in product.strength_ids:
        strength = catalogue.strengths.get(strength_id)
        if strength is None:
            continue  # a dangling reference: FEST extracts may point outside themselves
        substance = catalogue.substances.get(strength.substance_id or "")
        ingredients.append(
            IngredientOut(
                substance_id=strength.substance_id,
                name=substance.name if substance else None,
                strength=strength.strength_text or None,
                combination_atc=strength.combination_atc,
            )
        )
    return ingredients


def product(compiled: CompiledRelease, product_id: str, *, include_withdrawn: bool = False) -> ProductOut:
    found = compiled.catalogue.products.get(product_id)
    if found is None or not (found.active or include_withdrawn):
        raise ProductNotFound(f"release {compiled.release_id} has no active product {product_id!r}")
    packages = compiled.packages_by_product.get(found.id, ())
    return ProductOut(
        **product_summary(found).model_dump(),
        release_id=compiled.release_id,
        form_long=found.form_long,
        route=found.route,
        ingredients=_ingredients(compiled, found),
        packages=[_package_summary(p) for p in packages if p.active or include_withdrawn],
    )


def package(compiled: CompiledRelease, varenr: str, *, include_withdrawn: bool = False) -> PackageOut:
    found = compiled.packages_by_varenr.get(varenr)
    if found is None or not (found.active or include_withdrawn):
        raise PackageNotFound(f"release {compiled.release_id} has no active package with varenr {varenr!r}")
    owner = compiled.catalogue.products.get(found.product_id or "")
    group = compiled.catalogue.swap_groups.get(found.swap_group_id or "")
    return PackageOut(
        **_package_summary(found).model_dump(),
        release_id=compiled.release_id,
        atc=found.atc,
        product=product_summary(owner) if owner else None,
        swap_group=SwapGroupOut(id=group.id, code=group.code, name=group.name) if group else None,
    )


def search(compiled: CompiledRelease, query: str, *, offset: int, limit: int) -> SearchPageOut:
    page = compiled.search.search(query, offset=offset, limit=limit)
    return SearchPageOut(
        release_id=compiled.release_id,
        query=page.query,
        total=page.total,
        offset=page.offset,
        limit=page.limit,
        hits=[SearchHitOut(product=product_summary(hit.product), score=hit.score) for hit in page.hits],
    )
