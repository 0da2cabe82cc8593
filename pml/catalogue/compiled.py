"""A release compiled for serving: the interaction index, the name search and the look-up maps, built once
from the release's rows and then shared read-only by every request.

`ActiveCatalogue` holds the one this process serves. Swapping it is one reference assignment, so a check in
flight keeps the release it started with and never waits for a swap; the index, the search and the release
metadata always change together (the engine's `IndexHolder` holds the index alone, so it is not used here).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from interactions.engine import InteractionIndex
from interactions.model import Catalogue, Package, catalogue_from_rows
from interactions.search import CatalogueSearch
from pml.catalogue.errors import CatalogueUnavailable
from pml.catalogue.schemas import ReleaseInfo


@dataclass(frozen=True, slots=True)
class CompiledRelease:
    release: ReleaseInfo
    index: InteractionIndex
    search: CatalogueSearch
    packages_by_varenr: dict[str, Package]
    packages_by_product: dict[str, tuple[Package, ...]]

    @property
    def release_id(self) -> str:
        return self.release.id

    @property
    def catalogue(self) -> Catalogue:
        return self.index.catalogue


def compile_release(release: ReleaseInfo, rows: Iterable[tuple[str, dict[str, Any]]]) -> CompiledRelease:
    """Build everything a node serves from a release's (kind, record dict) rows. CPU-bound: run it off the
    event loop."""
    catalogue = catalogue_from_rows(release.hentet_dato or "", rows)
    by_varenr: dict[str, Package] = {}
    by_product: dict[str, list[Package]] = defaultdict(list)
    for package in catalogue.packages.values():
        # An active package wins over a withdrawn one reusing its varenr.
        if package.varenr not in by_varenr or not by_varenr[package.varenr].active:
            by_varenr[package.varenr] = package
        if package.product_id:
            by_product[package.product_id].append(package)
    return CompiledRelease(
        release=release,
        index=InteractionIndex.compile(catalogue, release.id),
        search=CatalogueSearch(catalogue),
        packages_by_varenr=by_varenr,
        packages_by_product={product: tuple(packages) for product, packages in by_product.items()},
    )


class ActiveCatalogue:
    """The compiled release this process serves, or none yet."""

    def __init__(self, compiled: CompiledRelease | None = None) -> None:
        self._compiled = compiled

    @property
    def current(self) -> CompiledRelease:
        compiled = self._compiled
        if compiled is None:
            raise CatalogueUnavailable(
                "no drug catalogue release is active on this server; interactions cannot be checked. "
                "An operator loads and activates one with `pml catalogue load FILE --activate`."
            )
        return compiled

    @property
    def release_id(self) -> str | None:
        compiled = self._compiled
        return None if compiled is None else compiled.release_id

    def swap(self, compiled: CompiledRelease | None) -> CompiledRelease | None:
        """Serve `compiled` (built beforehand) from now on; returns the one it replaces."""
        previous, self._compiled = self._compiled, compiled
        return previous
