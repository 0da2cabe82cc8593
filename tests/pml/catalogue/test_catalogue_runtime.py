"""Each API process's compiled release follows the database: a new activation is picked up by a refresh, a
check holding the old release keeps it, and an unreadable database never takes the served release away."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from interactions.engine import CheckItem
from pml.catalogue.compiled import ActiveCatalogue
from pml.catalogue.errors import CatalogueUnavailable
from pml.catalogue.runtime import CatalogueRefresher
from pml.db.engine import Database
from pml.settings import Settings
from tests.support.catalogue import EXTRACT, NAMESPACED, activate, load, load_and_activate
from tests.support.servers import create_migrated_database

PAIR = [CheckItem.atc("J05AP05"), CheckItem.atc("J02AC04")]


@pytest.fixture
def db(admin_url: str) -> str:
    return create_migrated_database(admin_url, prefix="pml_catalogue_runtime")


async def _refresh(refresher: CatalogueRefresher) -> bool:
    try:
        return await refresher.refresh()
    finally:
        await refresher._database.dispose()


def _refresher(url: str, active: ActiveCatalogue) -> CatalogueRefresher:
    return CatalogueRefresher(Database.from_settings(Settings(database_url=url), url), active, 60)


def test_a_refresh_picks_up_each_activation_and_old_holders_keep_theirs(db: str) -> None:
    active = ActiveCatalogue()
    assert asyncio.run(_refresh(_refresher(db, active))) is False
    with pytest.raises(CatalogueUnavailable):
        _ = active.current
    first = load_and_activate(db, EXTRACT)
    assert asyncio.run(_refresh(_refresher(db, active))) is True
    in_flight = active.current
    second = load(db, NAMESPACED).release_id
    activate(db, second)
    assert asyncio.run(_refresh(_refresher(db, active))) is True
    assert active.release_id == second
    # A check that took the release before the swap finishes on it, and says so.
    assert {f.release_id for f in in_flight.index.check(PAIR).findings} == {first}
    assert asyncio.run(_refresh(_refresher(db, active))) is False


def test_an_unreadable_database_does_not_stop_start_up_or_drop_the_served_release(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    active = ActiveCatalogue()
    load_and_activate(db, EXTRACT)
    asyncio.run(_refresh(_refresher(db, active)))
    served = active.release_id
    unreachable = "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1"

    async def start_and_stop() -> None:
        refresher = _refresher(unreachable, active)
        await refresher.start()
        await refresher.stop()
        await refresher._database.dispose()

    with caplog.at_level(logging.ERROR, logger="pml.catalogue.runtime"):
        asyncio.run(start_and_stop())
    assert active.release_id == served
    assert "catalogue refresh failed" in caplog.text


def _collector_walks(thing: object) -> bool:
    """Whether full collections visit `thing` (frozen objects are in no generation gc.get_objects lists)."""
    return any(candidate is thing for candidate in gc.get_objects())


def test_each_swapped_in_release_is_frozen_out_of_the_collectors_walks(db: str) -> None:
    """A full collection must not walk the compiled release: pml.memory freezes it after every swap."""
    active = ActiveCatalogue()
    try:
        load_and_activate(db, EXTRACT)
        assert asyncio.run(_refresh(_refresher(db, active))) is True
        first = active.current
        assert gc.is_tracked(first)
        assert not _collector_walks(first)
        activate(db, load(db, NAMESPACED).release_id)
        assert asyncio.run(_refresh(_refresher(db, active))) is True
        assert active.current is not first
        assert not _collector_walks(active.current)
    finally:
        gc.unfreeze()
