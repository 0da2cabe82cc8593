"""Load a catalogue file into a new release: a batch job on one sync psycopg connection.

The steps, and why:
1. Hash the file first: a file already loaded (same sha256) is a no-op that reports the existing release,
   decided before any parsing.
2. Take the load advisory lock (loads queue behind each other); a release still 'loading' at that point
   belongs to a loader that died, and is marked failed.
3. Insert the release as 'loading' and commit, so operators see the load in `pml catalogue list`.
4. Stream the source's records into the record tables with COPY, in batches per kind, all in ONE transaction
   that ends by marking the release 'loaded'. A half release can therefore never be seen: if the file is
   malformed, truncated or hostile, or the process dies, none of its records commit. The release is then
   marked failed with the reason. Nothing here touches the active release: that takes an explicit activation.

The loader is source-agnostic (`CatalogueSource`); the FEST reader in `loaders.fest` is one such source.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg

from interactions.model import CatalogueRecord
from pml.catalogue.errors import CatalogueLoadFailed
from pml.catalogue.repository import ReleaseLoadRepository, record_row
from pml.db.urls import libpq_url

log = logging.getLogger(__name__)

# Rows per COPY. Small enough that the batches still queued when parsing ends (the load's tail: up to
# QUEUE_DEPTH of them plus a partial batch per kind) take PostgreSQL a few ms, not a tenth of a second;
# large enough that a statement per batch costs nothing next to its rows.
DEFAULT_BATCH_SIZE = 1_000
PROGRESS_EVERY = 1_000
QUEUE_DEPTH = 4  # batches parsed ahead of the database; bounds the loader's memory
_READ_CHUNK = 1024 * 1024
_MAX_ERROR_LENGTH = 2_000

ProgressCallback = Callable[[int], None]


class CatalogueSource(Protocol):
    """One pass over one catalogue file (as `loaders.fest.FestReader` provides). After `records()` has run to
    the end, the other attributes describe the file; `records()` raises if the file is bad."""

    @property
    def path(self) -> Path: ...

    @property
    def hentet_dato(self) -> str | None: ...

    @property
    def counts(self) -> dict[str, int]: ...

    @property
    def withdrawn(self) -> dict[str, int]: ...

    @property
    def skipped(self) -> dict[str, int]: ...

    @property
    def sha256(self) -> str: ...

    def records(self) -> Iterator[CatalogueRecord]: ...


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    release_id: str
    created: bool  # False: the same file (sha256) was loaded before, nothing was done
    records: int
    seconds: float


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def load_release(
    database_url: str,
    source: CatalogueSource,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> LoadOutcome:
    """Load `source` as a new release (status 'loaded', not active), or report the release that already
    holds the same file. Raises CatalogueLoadFailed, after marking the release failed, if the file is bad."""
    started = time.perf_counter()
    sha256 = file_sha256(source.path)
    with psycopg.connect(libpq_url(database_url), application_name="pml-catalogue-loader") as connection:
        repository = ReleaseLoadRepository(connection)
        repository.lock_loads()
        try:
            return _load_locked(connection, repository, source, sha256, started, batch_size, on_progress)
        finally:
            if not connection.closed and not connection.broken:
                connection.rollback()
                repository.unlock_loads()


def _load_locked(
    connection: psycopg.Connection[Any],
    repository: ReleaseLoadRepository,
    source: CatalogueSource,
    sha256: str,
    started: float,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> LoadOutcome:
    interrupted = repository.fail_interrupted_loads()
    if interrupted:
        log.warning("marked %d interrupted catalogue load(s) failed", interrupted)
    existing = repository.loaded_release_id(sha256)
    if existing is not None:
        connection.commit()
        return LoadOutcome(str(existing), created=False, records=0, seconds=time.perf_counter() - started)
    release_id = repository.begin_release(source.path.name, sha256, source.path.stat().st_size)
    connection.commit()
    try:
        stored = _store_records(repository, release_id, source, batch_size, on_progress)
        if source.sha256 != sha256:
            raise CatalogueLoadFailed("the file changed while it was being loaded; load it again")
        seconds = time.perf_counter() - started
        repository.finish_release(
            release_id, hentet_dato=source.hentet_dato, counts=source.counts, withdrawn=source.withdrawn,
            skipped=source.skipped, load_seconds=round(seconds, 3),
        )  # fmt: skip
        connection.commit()
    except CatalogueLoadFailed as error:
        _record_failure(connection, repository, release_id, error)
        raise
    except Exception as error:  # a bad file (FestFormatError, UnsafeXmlError) or a database error
        _record_failure(connection, repository, release_id, error)
        raise CatalogueLoadFailed(_failure_message(error), release_id=str(release_id)) from error
    except BaseException as error:  # Ctrl-C, SystemExit: mark it failed, then let it through
        _record_failure(connection, repository, release_id, error)
        raise
    return LoadOutcome(str(release_id), created=True, records=stored, seconds=seconds)


class _CopyWriter:
    """COPYs batches on a worker thread while the caller keeps parsing, so PostgreSQL (another process) works
    on one batch while the next is parsed, instead of after it; psycopg waits for the server without the GIL.
    Only this thread touches the connection until `finish` or `stop` returns."""

    def __init__(self, repository: ReleaseLoadRepository, depth: int = QUEUE_DEPTH) -> None:
        self._repository = repository
        self._batches: queue.Queue[tuple[str, list[tuple[Any, ...]]] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="catalogue-copy", daemon=True)
        self._thread.start()

    def put(self, kind: str, rows: list[tuple[Any, ...]]) -> None:
        self._raise_if_failed()
        self._batches.put((kind, rows))

    def finish(self) -> None:
        """Wait until every batch is in; raise what the worker met, if anything."""
        self._batches.put(None)
        self._thread.join()
        self._raise_if_failed()

    def stop(self) -> None:
        """Skip what is queued and wait for the batch in progress: the caller is failing anyway."""
        self._stopping = True
        self._batches.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (batch := self._batches.get()) is not None:
            if self._error is None and not self._stopping:
                try:
                    self._repository.copy_rows(*batch)
                except BaseException as error:  # noqa: BLE001 - handed to the parsing thread, which raises it
                    self._error = error

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error


def _store_records(
    repository: ReleaseLoadRepository,
    release_id: int,
    source: CatalogueSource,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> int:
    """COPY every record in, `batch_size` rows per kind at a time; returns how many were stored."""
    writer = _CopyWriter(repository)
    try:
        count = _parse_into(writer, release_id, source, batch_size, on_progress)
    except BaseException:
        writer.stop()
        raise
    writer.finish()
    return count


def _parse_into(
    writer: _CopyWriter,
    release_id: int,
    source: CatalogueSource,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> int:
    pending: dict[str, list[tuple[Any, ...]]] = {}
    count = 0
    for record in source.records():
        batch = pending.setdefault(record.kind, [])
        batch.append(record_row(release_id, record))
        if len(batch) >= batch_size:
            writer.put(record.kind, pending.pop(record.kind))
        count += 1
        if on_progress is not None and count % PROGRESS_EVERY == 0:
            on_progress(count)
    for kind, batch in pending.items():
        writer.put(kind, batch)
    if on_progress is not None:
        on_progress(count)
    return count


def _record_failure(
    connection: psycopg.Connection[Any],
    repository: ReleaseLoadRepository,
    release_id: int,
    error: BaseException,
) -> None:
    """Roll the records back and mark the release failed with the reason. If the database is gone, the release
    stays 'loading' and the next load marks it failed (see `fail_interrupted_loads`)."""
    try:
        connection.rollback()
        repository.mark_failed(release_id, _failure_message(error))
        connection.commit()
    except psycopg.Error:
        log.exception("could not mark catalogue release %s failed", release_id)


def _failure_message(error: BaseException) -> str:
    if isinstance(error, psycopg.errors.UniqueViolation):
        detail = error.diag.message_detail or ""
        message = f"the file holds the same record id twice ({detail})"
    elif isinstance(error, KeyboardInterrupt | SystemExit):
        message = "the load was interrupted"
    else:
        message = str(error) or type(error).__name__
    return message[:_MAX_ERROR_LENGTH]
