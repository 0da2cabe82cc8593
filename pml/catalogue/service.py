"""Catalogue release rules: which releases exist, which one is active, activation and rollback.

Activation is one transaction under an advisory lock: the previous release (if any) goes back to 'loaded',
the active one becomes 'previous', the chosen one becomes 'active'. Partial unique indexes make two active
releases impossible even if this code were wrong. Rollback makes the previous release active again and puts
the one rolled back from back to 'loaded' (it can be activated again by id); rollback goes back one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pml.catalogue.errors import NoPreviousRelease, ReleaseNotActivatable, ReleaseNotFound
from pml.catalogue.repository import ACTIVATABLE_STATUSES, ReleaseRepository
from pml.catalogue.schemas import ReleaseInfo, ReleaseList

# Reading a full-size release's rows to compile it; well above the per-request statement timeout.
COMPILE_READ_TIMEOUT_MS = 120_000


@dataclass(frozen=True, slots=True)
class ActivationOutcome:
    active: ReleaseInfo
    replaced: ReleaseInfo | None
    changed: bool


class CatalogueService:
    def __init__(self, repository: ReleaseRepository) -> None:
        self._repo = repository

    async def releases(self) -> ReleaseList:
        releases = await self._repo.releases()
        active = next((release.id for release in releases if release.status == "active"), None)
        return ReleaseList(releases=releases, active_release_id=active)

    async def release(self, release_id: str) -> ReleaseInfo:
        release = await self._repo.release(release_id)
        if release is None:
            raise ReleaseNotFound(f"there is no catalogue release {release_id!r}")
        return release

    async def active_release(self) -> ReleaseInfo | None:
        return await self._repo.release_with_status("active")

    async def active_release_id(self) -> str | None:
        return await self._repo.active_release_id()

    async def activate(self, release_id: str) -> ActivationOutcome:
        """Make a loaded release the active one, atomically. Activating the active release changes nothing."""
        await self._repo.lock_activation()
        chosen = await self.release(release_id)
        if chosen.status not in ACTIVATABLE_STATUSES:
            raise ReleaseNotActivatable(
                f"release {release_id} is {chosen.status}; only a fully loaded release can be activated"
            )
        current = await self._repo.release_with_status("active")
        if current is not None and current.id == chosen.id:
            return ActivationOutcome(active=chosen, replaced=None, changed=False)
        previous = await self._repo.release_with_status("previous")
        # The order matters: every statement must leave at most one active and one previous release.
        if previous is not None and previous.id != chosen.id:
            await self._repo.set_status(previous.id, "loaded")
        if current is not None:
            await self._repo.set_status(current.id, "loaded")
        await self._repo.make_active(chosen.id)
        if current is not None:
            await self._repo.set_status(current.id, "previous")
        await self._repo.log_activation(chosen.id, current.id if current else None, "activate")
        return ActivationOutcome(active=await self.release(chosen.id), replaced=current, changed=True)

    async def rollback(self) -> ActivationOutcome:
        """Make the previous release active again; the one rolled back from goes back to 'loaded'."""
        await self._repo.lock_activation()
        previous = await self._repo.release_with_status("previous")
        if previous is None:
            raise NoPreviousRelease(
                "no release was active before the current one, so there is nothing to roll back to"
            )
        current = await self._repo.release_with_status("active")
        if current is not None:
            await self._repo.set_status(current.id, "loaded")
        await self._repo.make_active(previous.id)
        await self._repo.log_activation(previous.id, current.id if current else None, "rollback")
        return ActivationOutcome(active=await self.release(previous.id), replaced=current, changed=True)

    async def records(self, release: ReleaseInfo) -> list[tuple[str, dict[str, Any]]]:
        """A release's records as (kind, record dict) rows, to compile."""
        await self._repo.set_statement_timeout(COMPILE_READ_TIMEOUT_MS)
        return await self._repo.records(release.id)
