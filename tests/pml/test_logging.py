"""uvicorn decides per connection whether to format access lines by asking whether its access logger has
anywhere to write; PML's logging setup must answer that as PML_ACCESS_LOG says."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from pml.logging import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    access = logging.getLogger("uvicorn.access")
    access_handlers, access_propagate = list(access.handlers), access.propagate
    yield
    root.handlers, root.level = handlers, level
    access.handlers, access.propagate = access_handlers, access_propagate


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("access_log", [False, True])
def test_uvicorn_sees_an_access_logger_only_when_asked(access_log: bool) -> None:
    configure_logging("INFO", access_log=access_log)
    assert logging.getLogger("uvicorn.access").hasHandlers() is access_log
    assert logging.getLogger("uvicorn.error").hasHandlers()  # errors are always logged
