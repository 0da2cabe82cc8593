"""pgbench scripts made from the SQL the service actually issues, so the database baseline is the service's
own work with nothing else around it.

The read is the list read (`current_list()` on an autocommit read connection, as an uncached
`GET .../medication-list` runs it: one statement, no BEGIN or COMMIT); the write is a dose change as
`PATCH .../entries/{id}` runs it (`api.v1.conditional.idempotent_write` with an Idempotency-Key: the lock
with the entries and the key's look-up in one statement, the change record with the entry upsert and the
header update in one statement, the stored response).
Both run once against the benchmark database while SQLAlchemy's `before_cursor_execute` records every
statement and its parameters; the recording is then turned into a pgbench script:

- the patient id, entry id, version and Idempotency-Key become pgbench variables (`:pid`, `:eid`, `:nv`,
  `:ikey`), the row lock's result and RETURNING values come back with `\\gset`, like the service reads them;
- every other value is passed as a bind parameter with `-D` (pgbench runs with `-M prepared`, as psycopg
  prepares repeated statements), never pasted into the SQL, so JSON is sent as the service sends it;
- each run starts with one primary-key look-up in a helper table to pick a random patient (`pgbench -r`
  reports that statement's latency separately, so its share of the transaction is visible).

If the service's SQL changes, the scripts change with it: they are generated at every benchmark run.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import event
from starlette.requests import Request

from api.v1.conditional import idempotent_write, json_response, list_service
from api.v1.medication_list import WriteOutcome
from pml.db.engine import Database
from pml.medication_list.schemas import EntryChange, Source
from pml.medication_list.service import MedicationListService, current_list
from pml.seed.demo import SEED_ACTOR
from pml.settings import Settings

READ_TARGETS = "pml_bench_read_target"
WRITE_TARGETS = "pml_bench_write_target"
_PARAMETER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True, slots=True)
class Captured:
    statement: str
    parameters: dict[str, Any] | None


@dataclass(slots=True)
class Script:
    """A pgbench script and the `-D name=value` definitions its bind parameters need."""

    text: str
    defines: dict[str, str] = field(default_factory=dict)
    statements: int = 0


@dataclass(frozen=True, slots=True)
class Known:
    """Values of the recorded run that stand for per-transaction variables."""

    patient_id: str
    entry_id: uuid.UUID | None = None
    new_version: int | None = None
    idempotency_key: str | None = None


# -- recording ----------------------------------------------------------------------------------------------


def _record_into(database: Database, log: list[Captured]) -> None:
    engine = database.write_engine.sync_engine

    def _autocommit(connection: Any) -> bool:
        """An autocommit connection sends no BEGIN or COMMIT, though SQLAlchemy still reports both."""
        return bool(connection.connection.driver_connection.autocommit)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        if not _autocommit(connection):
            log.append(Captured("BEGIN", None))

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(_c: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        log.append(Captured(statement, dict(parameters) if parameters else None))

    @event.listens_for(engine, "commit")
    def _commit(connection: Any) -> None:
        if not _autocommit(connection):
            log.append(Captured("COMMIT", None))


def _patch_request(path: str, version: int, key: str) -> Request:
    headers = [(b"if-match", f'"{version}"'.encode()), (b"idempotency-key", key.encode())]
    return Request({"type": "http", "method": "PATCH", "path": path, "headers": headers, "query_string": b""})


async def record_read(settings: Settings, url: str, patient_id: str) -> list[Captured]:
    database = Database.from_settings(settings, url)
    log: list[Captured] = []
    try:
        async with database.read_statement() as connection:
            await current_list(connection, patient_id)  # warm the connection first
        _record_into(database, log)
        async with database.read_statement() as connection:
            await current_list(connection, patient_id)
    finally:
        await database.dispose()
    return log


async def record_write(settings: Settings, url: str, patient_id: str) -> tuple[list[Captured], Known]:
    """One dose change through the service's own idempotent write path, recorded statement by statement."""
    database = Database.from_settings(settings, url)
    log: list[Captured] = []
    try:
        async with database.read_transaction() as session:
            current = await list_service(session, settings).current(patient_id)
        entry = next(e for e in current.entries if e.status.value == "active")
        change = EntryChange(dose_text="2 tabletter om morgenen (pgbench)", reason="dosejustering")
        key = f"pgbench-{uuid.uuid4().hex}"

        async def operation(service: MedicationListService, expected: int) -> Any:
            result = await service.change_entry(patient_id, expected, entry.id, change, SEED_ACTOR, Source.GP)
            outcome = WriteOutcome(entry=result.entry, medication_list=result.medication_list)
            return json_response(outcome, version=result.medication_list.version)

        _record_into(database, log)
        path = f"/v1/patients/{patient_id}/medication-list/entries/{entry.id}"
        await idempotent_write(
            _patch_request(path, current.version, key),
            database=database,
            settings=settings,
            patient_id=patient_id,
            payload=change,
            operation=operation,
        )
    finally:
        await database.dispose()
    return log, Known(patient_id, entry.id, current.version + 1, key)


# -- turning a recording into a pgbench script ---------------------------------------------------------------


class _Renderer:
    def __init__(self, known: Known) -> None:
        self.known = known
        self.defines: dict[str, str] = {}

    def placeholder(self, name: str, value: Any) -> str:
        """The pgbench text standing for one recorded parameter."""
        known = self.known
        if value is None:
            return "NULL"
        if isinstance(value, str) and value == known.patient_id:
            return ":pid"
        if isinstance(value, uuid.UUID) and value == known.entry_id:
            return ":eid"
        if isinstance(value, str) and value == known.idempotency_key:
            return ":ikey"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            is_version = name.endswith("version") or name.startswith("param_")
            return ":nv" if is_version and value == known.new_version else str(value)
        if isinstance(value, dt.datetime):
            raise ValueError(f"{name}: the service binds no time (the database takes recorded_at itself)")
        return self.define(value)

    def define(self, value: Any) -> str:
        name = f"d{len(self.defines)}"
        if isinstance(value, Jsonb):
            text = json.dumps(value.obj)
        elif isinstance(value, bytes | bytearray | memoryview) or hasattr(value, "obj"):
            raw = bytes(getattr(value, "obj", value))
            text = "\\x" + raw.hex()
        else:
            text = str(value)
        self.defines[name] = text
        return f":{name}"

    def statement(self, captured: Captured) -> str:
        parameters = captured.parameters or {}
        sql = _PARAMETER.sub(
            lambda m: self.placeholder(m.group(1), parameters[m.group(1)]), captured.statement
        )
        if "FOR UPDATE" in sql:
            return f"{sql}\n\\gset lock_\n\\set nv :lock_version + 1\n"
        if "RETURNING" in sql:
            return f"{sql}\n\\gset ret_\n"
        return f"{sql};\n"


def _pick(table: str, columns: str) -> str:
    """One primary-key look-up for a random patient (and entry) of the benchmark population."""
    return f"\\set n random(1, :targets)\nSELECT {columns} FROM {table} WHERE n = :n\n\\gset\n"


def pgbench_script(captured: list[Captured], known: Known, *, table: str, columns: str) -> Script:
    renderer = _Renderer(known)
    body = [renderer.statement(c) for c in captured]
    header = "\\set ikey random(1, 9000000000000000)\n" if known.idempotency_key else ""
    text = header + _pick(table, columns) + "".join(body)
    return Script(
        text, renderer.defines, statements=len([c for c in captured if c.statement not in ("BEGIN",)])
    )


def read_script(captured: list[Captured], patient_id: str) -> Script:
    return pgbench_script(captured, Known(patient_id), table=READ_TARGETS, columns="patient_id AS pid")


def write_script(captured: list[Captured], known: Known) -> Script:
    return pgbench_script(captured, known, table=WRITE_TARGETS, columns="patient_id AS pid, entry_id AS eid")


# -- helper tables -------------------------------------------------------------------------------------------

CREATE_TARGETS = f"""
DROP TABLE IF EXISTS {READ_TARGETS}, {WRITE_TARGETS};
CREATE TABLE {READ_TARGETS} (n integer PRIMARY KEY, patient_id varchar(11) NOT NULL);
CREATE TABLE {WRITE_TARGETS} (n integer PRIMARY KEY, patient_id varchar(11) NOT NULL, entry_id uuid NOT NULL);
"""
# The table names are this module's constants, not input.
FILL_WRITE_TARGETS = f"""
INSERT INTO {WRITE_TARGETS} (n, patient_id, entry_id)
SELECT row_number() OVER (ORDER BY t.patient_id), t.patient_id, e.entry_id
FROM unnest(%s::varchar[]) AS t(patient_id)
CROSS JOIN LATERAL (SELECT entry_id FROM list_entry WHERE patient_id = t.patient_id AND status = 'active'
                    ORDER BY created_version LIMIT 1) e
"""  # noqa: S608
FILL_READ_TARGETS = f"""
INSERT INTO {READ_TARGETS} (n, patient_id)
SELECT ordinality, patient_id FROM unnest(%s::varchar[]) WITH ORDINALITY AS t(patient_id)
"""  # noqa: S608
COUNT_WRITE_TARGETS = f"SELECT count(*) FROM {WRITE_TARGETS}"  # noqa: S608
