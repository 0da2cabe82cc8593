"""Every Core statement built once at import can be cached compiled by SQLAlchemy. A construct without a cache
key (a VALUES list, say) is compiled again on every execution: for the combined blocks-and-list read that
cost more client CPU than a second statement would have."""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy.sql.base import Executable

import api
import pml

NOT_IMPORTABLE_ALONE = {"pml.db.migrations.env"}  # alembic's env runs only under alembic


def _module_statements() -> list[tuple[str, Executable]]:
    found = []
    for package in (pml, api):
        for module_info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if module_info.name in NOT_IMPORTABLE_ALONE:
                continue
            module = importlib.import_module(module_info.name)
            found += [(f"{module_info.name}.{name}", obj) for name, obj in vars(module).items()
                      if isinstance(obj, Executable) and hasattr(obj, "_generate_cache_key")]
    return found


def test_statements_built_at_import_have_a_cache_key() -> None:
    statements = _module_statements()
    assert any(name.endswith("READ_BLOCKS_AND_LIST") for name, _ in statements)
    uncacheable = [name for name, statement in statements if statement._generate_cache_key() is None]
    assert uncacheable == []
