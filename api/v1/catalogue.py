"""/v1/catalogue: look up products and packages, search by name, see and manage catalogue releases.

Look-ups and search are answered from the release this node has compiled in memory; every answer names it.
Release management (activate, roll back) is for the admin role; the CLI does the same (`pml catalogue`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from api.authz import Permission, authorize
from api.deps import CurrentPrincipal, DatabaseDep
from api.problems import PROBLEM_CONTENT_TYPE
from pml.catalogue import lookups
from pml.catalogue.compiled import ActiveCatalogue
from pml.catalogue.repository import ReleaseRepository
from pml.catalogue.runtime import CatalogueRefresher
from pml.catalogue.schemas import (
    ActivationOut,
    PackageOut,
    ProductOut,
    ReleaseInfo,
    ReleaseList,
    SearchPageOut,
    ServedRelease,
)
from pml.catalogue.service import ActivationOutcome, CatalogueService

router = APIRouter(prefix="/catalogue", tags=["catalogue"])

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "no catalogue release is active (problem type catalogue-unavailable)",
        "content": {PROBLEM_CONTENT_TYPE: {}},
    }
}
SEARCH_HELP = 'what the prescriber typed, e.g. "paracet 500"'


def get_active_catalogue(request: Request) -> ActiveCatalogue:
    refresher: CatalogueRefresher = request.app.state.catalogue
    return refresher.active


ActiveCatalogueDep = Annotated[ActiveCatalogue, Depends(get_active_catalogue)]
IncludeWithdrawn = Annotated[bool, Query(description="also show Status U (withdrawn) records")]


@router.get("/products/{product_id}", response_model=ProductOut, responses=UNAVAILABLE)
async def read_product(
    product_id: Annotated[str, Path(max_length=64, description="FEST LegemiddelMerkevare Id")],
    principal: CurrentPrincipal,
    catalogue: ActiveCatalogueDep,
    include_withdrawn: IncludeWithdrawn = False,
) -> ProductOut:
    """A product (merkevare) with its ingredients and packages."""
    authorize(principal, Permission.READ_CATALOGUE)
    return lookups.product(catalogue.current, product_id, include_withdrawn=include_withdrawn)


@router.get("/packages/{varenr}", response_model=PackageOut, responses=UNAVAILABLE)
async def read_package(
    varenr: Annotated[str, Path(max_length=16, description="the package number (varenr)")],
    principal: CurrentPrincipal,
    catalogue: ActiveCatalogueDep,
    include_withdrawn: IncludeWithdrawn = False,
) -> PackageOut:
    """A package by varenr, with its product and swap group (byttegruppe)."""
    authorize(principal, Permission.READ_CATALOGUE)
    return lookups.package(catalogue.current, varenr, include_withdrawn=include_withdrawn)


@router.get("/search", response_model=SearchPageOut, responses=UNAVAILABLE)
async def search_products(
    principal: CurrentPrincipal,
    catalogue: ActiveCatalogueDep,
    q: Annotated[str, Query(min_length=1, max_length=100, description=SEARCH_HELP)],
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchPageOut:
    """Products ranked by how well brand, substance names and NavnFormStyrke match, strength and form too."""
    authorize(principal, Permission.READ_CATALOGUE)
    return lookups.search(catalogue.current, q, offset=offset, limit=limit)


@router.get("/releases", response_model=ReleaseList)
async def list_releases(principal: CurrentPrincipal, database: DatabaseDep) -> ReleaseList:
    """Every release the database holds, newest first, failed loads included (with their reason)."""
    authorize(principal, Permission.READ_CATALOGUE)
    async with database.read_transaction() as session:
        return await CatalogueService(ReleaseRepository(session)).releases()


@router.get("/releases/active", response_model=ServedRelease, responses=UNAVAILABLE)
async def read_active_release(
    principal: CurrentPrincipal, catalogue: ActiveCatalogueDep, database: DatabaseDep
) -> ServedRelease:
    """The release this node checks against; right after an activation it may trail the database's by up to
    the refresh interval."""
    authorize(principal, Permission.READ_CATALOGUE)
    served = catalogue.current.release
    async with database.read_transaction() as session:
        active_id = await CatalogueService(ReleaseRepository(session)).active_release_id()
    return ServedRelease(release=served, database_active_release_id=active_id)


@router.get("/releases/{release_id}", response_model=ReleaseInfo)
async def read_release(
    release_id: Annotated[str, Path(max_length=20)], principal: CurrentPrincipal, database: DatabaseDep
) -> ReleaseInfo:
    authorize(principal, Permission.READ_CATALOGUE)
    async with database.read_transaction() as session:
        return await CatalogueService(ReleaseRepository(session)).release(release_id)


def _activation(outcome: ActivationOutcome) -> ActivationOut:
    return ActivationOut(active=outcome.active, replaced=outcome.replaced, changed=outcome.changed)


@router.post("/releases/rollback", response_model=ActivationOut)
async def roll_back_release(principal: CurrentPrincipal, database: DatabaseDep) -> ActivationOut:
    """Make the previous release active again (admin). API nodes follow within their refresh interval."""
    authorize(principal, Permission.MANAGE_CATALOGUE)
    async with database.write_transaction() as session:
        return _activation(await CatalogueService(ReleaseRepository(session)).rollback())


@router.post("/releases/{release_id}/activate", response_model=ActivationOut)
async def activate_release(
    release_id: Annotated[str, Path(max_length=20)], principal: CurrentPrincipal, database: DatabaseDep
) -> ActivationOut:
    """Make a loaded release the active one, atomically (admin). API nodes follow within their refresh
    interval; checks in flight finish on the release they started with."""
    authorize(principal, Permission.MANAGE_CATALOGUE)
    async with database.write_transaction() as session:
        return _activation(await CatalogueService(ReleaseRepository(session)).activate(release_id))
