"""Keeping each API process's compiled release in step with the database, without restarts.

At start-up the process compiles the active release (if any). Then a background task asks the database every
`PML_CATALOGUE_REFRESH_SECONDS` which release is active (one indexed single-row query); when the answer
changes it reads the new release's rows, compiles them in a worker thread (so the event loop keeps serving)
and swaps the result in with one assignment. Checks in flight finish on the release they started with.
A failed refresh is logged and retried at the next tick; the process keeps serving the release it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from pml.catalogue.compiled import ActiveCatalogue, compile_release
from pml.catalogue.repository import ReleaseRepository
from pml.catalogue.service import CatalogueService
from pml.db.engine import Database
from pml.memory import settle_long_lived_objects

log = logging.getLogger(__name__)


class CatalogueRefresher:
    def __init__(self, database: Database, active: ActiveCatalogue, interval_seconds: float) -> None:
        self._database = database
        self.active = active
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> bool:
        """Serve the database's active release if this process does not yet; True when it swapped."""
        async with self._database.read_transaction() as session:
            service = CatalogueService(ReleaseRepository(session))
            active_id = await service.active_release_id()
            if active_id == self.active.release_id:
                return False
            release = await service.active_release() if active_id is not None else None
            rows = await service.records(release) if release is not None else None
        if release is None or rows is None:
            self.active.swap(None)
            log.warning("no catalogue release is active; interaction checks answer 503")
            return True
        started = time.perf_counter()
        compiled = await asyncio.to_thread(compile_release, release, rows)
        replaced = self.active.swap(compiled)
        replaced_id = replaced.release_id if replaced else None
        del replaced, rows  # so that settling can free them now
        settle_long_lived_objects()
        log.info(
            "now serving catalogue release %s (HentetDato %s, was %s; compiled and settled in %.2fs)",
            release.id, release.hentet_dato, replaced_id, time.perf_counter() - started,
        )  # fmt: skip
        return True

    async def start(self) -> None:
        """Compile the active release now (a failure only delays it), then keep polling."""
        await self._refresh_logging_errors()
        self._task = asyncio.create_task(self._poll(), name="catalogue-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._refresh_logging_errors()

    async def _refresh_logging_errors(self) -> None:
        try:
            await self.refresh()
        except Exception:
            log.exception("catalogue refresh failed; still serving release %s", self.active.release_id)


async def start_catalogue(database: Database, refresh_seconds: float) -> CatalogueRefresher:
    """For the app's lifespan: the refresher, started; `refresher.active` is what requests read."""
    refresher = CatalogueRefresher(database, ActiveCatalogue(), refresh_seconds)
    await refresher.start()
    return refresher
