"""Bulk seeding for load tests: 100,000 synthetic patients in minutes, streamed with PostgreSQL COPY.

`pml.seed.demo` builds each list through the service, one transaction per patient: correct, but hours for a
national-size population. Here the same rows are computed in Python and written with COPY, one batch of
patients per transaction, kept consistent the way the service keeps them:

- `patient_list.version` is the number of the patient's `list_change` rows, `updated_at` the last change's
  `recorded_at`, the reviewed marker the last review change;
- before/after images are `Entry.model_dump(mode="json")` of entries built as `MedicationListService` builds
  them (a validated `NewEntry`, then `Entry` with created/updated version; status changes by `model_copy`), so
  the JSON cannot drift from the service's schemas; `list_entry.body` is each entry's last after-image;
- a patient that already has a list is left alone: the header goes in with INSERT ... ON CONFLICT DO NOTHING
  and only the patients it created get entries and changes, so a re-run adds nothing and a list the service
  wrote is never touched.

Entries name products of the active catalogue release when there is one (merkevare id, varenr, ATC), so
interaction checks resolve them, and about a third of the patients carry both sides of a real interaction
record. Synthetic national ids only (month + 80): never real people.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import os
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg

from interactions.model import Catalogue, InteractionRecord, Package, Product, catalogue_from_rows
from pml.db.urls import libpq_url
from pml.medication_list.schemas import (
    Actor,
    AsNeededDose,
    ChangeAction,
    Dosage,
    Entry,
    EntryStatus,
    IntervalDose,
    NewEntry,
    ProductRef,
    ScheduledDose,
    Source,
    TimeOfDay,
)
from pml.seed.demo import SEED_ACTOR, demo_entry, demo_patient_id
from pml.seed.medicines import FORMULARY, Medicine
from pml.settings import Settings

# The same odds as the service-built demo lists (pml.seed.demo), so both kinds of seed data look alike.
STATUS_CHANGE_SHARE = 0.12
REVIEWED_SHARE = 0.5
STOP_REASON = "demo: seponert av lege"
# Share of patients given both sides of one interaction record of the catalogue.
INTERACTION_PAIR_SHARE = 0.35
# Share of entries drawn from the catalogue's commonly prescribed products rather than the formulary.
CATALOGUE_ENTRY_SHARE = 0.4
# How many catalogue products are "commonly prescribed" (drawn with Zipf-like weights, as real use is skewed).
POPULAR_PRODUCTS = 400
DEFAULT_BATCH_SIZE = 2_000
_VARENR = re.compile(r"^\d{6}$")

HEADER_COLUMNS = (
    "patient_id", "version", "reviewed_by", "reviewed_at", "reviewed_version", "created_at", "updated_at",
)
ENTRY_COLUMNS = ("patient_id", "entry_id", "status", "atc", "body", "created_version", "updated_version")
CHANGE_COLUMNS = (
    "patient_id", "version", "recorded_at", "action", "entry_id", "actor", "organisation", "source", "reason",
    "before", "after",
)


# -- what an entry can name ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogueProduct:
    """A product of the active release an entry can name, with one of its active packages."""

    product: Product
    varenr: str
    strength: str | None

    @property
    def ref(self) -> ProductRef:
        return ProductRef(merkevare_id=self.product.id, varenr=self.varenr, atc=_level5(self.product.atc))


@dataclass(frozen=True, slots=True)
class InteractionPair:
    """The level-5 ATC codes (and names) on each side of one interaction record."""

    first: tuple[tuple[str, str], ...]
    second: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class CatalogueChoices:
    """What the active catalogue release offers a synthetic list; empty when no release is active."""

    release_id: str | None = None
    by_atc: dict[str, list[CatalogueProduct]] = field(default_factory=dict)
    popular: list[CatalogueProduct] = field(default_factory=list)
    popular_weights: list[float] = field(default_factory=list)
    pairs: list[InteractionPair] = field(default_factory=list)

    @property
    def products(self) -> int:
        return sum(len(products) for products in self.by_atc.values())


def _level5(atc: str | None) -> str | None:
    return atc if atc is not None and len(atc) == 7 else None


def _strength_text(catalogue: Catalogue, product: Product) -> str | None:
    parts = [catalogue.strengths[i].strength_text for i in product.strength_ids if i in catalogue.strengths]
    text = " / ".join(part for part in parts if part)[:200]
    return text or None


def _active_packages(catalogue: Catalogue) -> dict[str, Package]:
    """One active package with a well-formed varenr per product."""
    packages: dict[str, Package] = {}
    for package in catalogue.packages.values():
        if package.active and package.product_id and _VARENR.match(package.varenr):
            packages.setdefault(package.product_id, package)
    return packages


def _catalogue_products(catalogue: Catalogue) -> list[CatalogueProduct]:
    packages = _active_packages(catalogue)
    return [
        CatalogueProduct(product, packages[product.id].varenr, _strength_text(catalogue, product))
        for product in sorted(catalogue.products.values(), key=lambda p: p.id)
        if product.active and product.id in packages and len(product.id) <= 64
    ]


def _interaction_pairs(records: Sequence[InteractionRecord]) -> list[InteractionPair]:
    pairs = []
    for record in sorted(records, key=lambda r: r.id):
        sides = [
            tuple((m.atc, m.name[:200]) for m in group.members if m.atc and len(m.atc) == 7 and m.name)
            for group in record.groups
        ]
        if record.active and all(sides):
            pairs.append(InteractionPair(sides[0], sides[1]))
    return pairs


def choices_from_catalogue(catalogue: Catalogue, release_id: str, seed: int) -> CatalogueChoices:
    products = _catalogue_products(catalogue)
    by_atc: dict[str, list[CatalogueProduct]] = {}
    for product in products:
        if product.ref.atc is not None:
            by_atc.setdefault(product.ref.atc, []).append(product)
    popular = random.Random(seed).sample(products, min(POPULAR_PRODUCTS, len(products)))  # noqa: S311
    weights = [1 / (rank + 1) for rank in range(len(popular))]
    pairs = _interaction_pairs(list(catalogue.interactions.values()))
    return CatalogueChoices(release_id, by_atc, popular, weights, pairs)


async def _read_active_catalogue(settings: Settings, url: str) -> tuple[str, Catalogue] | None:
    from pml.catalogue.repository import ReleaseRepository
    from pml.catalogue.service import CatalogueService
    from pml.db.engine import Database

    database = Database.from_settings(settings, url)
    try:
        async with database.read_transaction() as session:
            service = CatalogueService(ReleaseRepository(session))
            release = await service.active_release()
            if release is None:
                return None
            rows = await service.records(release)
    finally:
        await database.dispose()
    return release.id, catalogue_from_rows(release.hentet_dato or "", rows)


def active_catalogue_choices(settings: Settings, url: str, seed: int) -> CatalogueChoices:
    """The active release's products and interaction pairs (read through the catalogue's own repository)."""
    found = asyncio.run(_read_active_catalogue(settings, url))
    if found is None:
        return CatalogueChoices()
    release_id, catalogue = found
    return choices_from_catalogue(catalogue, release_id, seed)


# -- one patient's entries ---------------------------------------------------------------------------------

_TABLET = Dosage(unit="tablett", schedule=[ScheduledDose(time_of_day=TimeOfDay.MORNING, amount=Decimal(1))])
_TABLET_TWICE = Dosage(
    unit="tablett",
    schedule=[
        ScheduledDose(time_of_day=TimeOfDay.MORNING, amount=Decimal(1)),
        ScheduledDose(time_of_day=TimeOfDay.EVENING, amount=Decimal(1)),
    ],
)
_TABLET_AS_NEEDED = Dosage(unit="tablett", as_needed=AsNeededDose(amount=Decimal(1), max_per_day=Decimal(3)))
_CAPSULE = Dosage(unit="kapsel", schedule=[ScheduledDose(time_of_day=TimeOfDay.MORNING, amount=Decimal(1))])
_LIQUID = Dosage(
    unit="ml",
    schedule=[
        ScheduledDose(time_of_day=TimeOfDay.MORNING, amount=Decimal(5)),
        ScheduledDose(time_of_day=TimeOfDay.EVENING, amount=Decimal(5)),
    ],
)
_WEEKLY_INJECTION = Dosage(unit="ml", interval=IntervalDose(every=1, period="week", amount=Decimal(1)))
_TABLET_DOSAGES = (
    (_TABLET, "1 tablett om morgenen"),
    (_TABLET_TWICE, "1 tablett morgen og kveld"),
    (_TABLET_AS_NEEDED, "1 tablett ved behov, maks 3 per døgn"),
)


def _dosage_for_form(form: str | None, rng: random.Random) -> tuple[Dosage, str]:
    """A plausible dosage for a pharmaceutical form (the catalogue says nothing about dosing)."""
    text = (form or "").lower()
    if "inj" in text:
        return _WEEKLY_INJECTION, "1 ml en gang i uken"
    if "mikst" in text or "dråper" in text or "oppløsning" in text:
        return _LIQUID, "5 ml morgen og kveld"
    if "kaps" in text:
        return _CAPSULE, "1 kapsel om morgenen"
    return rng.choice(_TABLET_DOSAGES)


def _common_fields(rng: random.Random, started: dt.date) -> dict[str, Any]:
    return {
        "start_date": started,
        "prescriber_hpr": str(rng.randint(1000000, 9999999)),
        "source": rng.choice([Source.GP, Source.GP, Source.GP, Source.HOSPITAL]),
    }


def catalogue_entry(product: CatalogueProduct, rng: random.Random, started: dt.date) -> NewEntry:
    dosage, dose_text = _dosage_for_form(product.product.form, rng)
    return NewEntry(
        product=product.ref,
        display_name=product.product.name_form_strength[:200] or product.product.brand_name[:200],
        strength=product.strength,
        form=product.product.form,
        dosage=dosage,
        dose_text=dose_text,
        route=product.product.route,
        **_common_fields(rng, started),
    )


def substance_entry(atc: str, name: str, rng: random.Random, started: dt.date) -> NewEntry:
    """An entry known by its substance and ATC code only (as a hospital often records it)."""
    dosage, dose_text = _dosage_for_form(None, rng)
    return NewEntry(
        product=ProductRef(atc=atc), display_name=name, dosage=dosage, dose_text=dose_text,
        **_common_fields(rng, started),
    )


def _matching_product(
    choices: CatalogueChoices, medicine: Medicine, rng: random.Random
) -> CatalogueProduct | None:
    """A catalogue product of the formulary medicine's substance and form, if the release has one."""
    form = medicine.form[:3].lower()
    candidates = [
        p for p in choices.by_atc.get(medicine.atc, []) if (p.product.form or "").lower().startswith(form)
    ]
    return rng.choice(candidates) if candidates else None


def formulary_entry(
    medicine: Medicine, choices: CatalogueChoices, rng: random.Random, started: dt.date
) -> NewEntry:
    """A formulary medicine (realistic dosing), naming a catalogue product of the same substance if any."""
    entry = demo_entry(medicine, rng, started)
    product = _matching_product(choices, medicine, rng)
    if product is None:
        return entry.model_copy(update={"start_date": started})
    fields = entry.model_dump(exclude_unset=True) | {
        "product": product.ref.model_dump(),
        "display_name": product.product.name_form_strength[:200],
        "start_date": started,
    }
    return NewEntry.model_validate(fields)


def _pair_entries(choices: CatalogueChoices, rng: random.Random, started: dt.date) -> list[NewEntry]:
    pair = rng.choice(choices.pairs)
    entries = []
    for atc, name in (rng.choice(pair.first), rng.choice(pair.second)):
        products = choices.by_atc.get(atc)
        if products:
            entries.append(catalogue_entry(rng.choice(products), rng, started))
        else:
            entries.append(substance_entry(atc, name, rng, started))
    return entries


def planned_entries(
    choices: CatalogueChoices, rng: random.Random, started: dt.date, max_entries: int
) -> list[NewEntry]:
    """3–12 medicines, no two of the same ATC code (except an interaction pair, which is the point)."""
    wanted = min(rng.randint(3, 12), max_entries)
    with_pair = bool(choices.pairs) and rng.random() < INTERACTION_PAIR_SHARE
    entries = _pair_entries(choices, rng, started) if with_pair else []
    seen = {e.product.atc for e in entries}
    formulary = rng.sample(FORMULARY, len(FORMULARY))
    while len(entries) < wanted and formulary:
        if choices.popular and rng.random() < CATALOGUE_ENTRY_SHARE:
            product = rng.choices(choices.popular, weights=choices.popular_weights)[0]
            candidate = catalogue_entry(product, rng, started)
        else:
            candidate = formulary_entry(formulary.pop(), choices, rng, started)
        if candidate.product.atc not in seen or candidate.product.atc is None:
            seen.add(candidate.product.atc)
            entries.append(candidate)
    return entries[:max_entries]


# -- one patient's history, as the service would have written it ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    action: ChangeAction
    source: Source
    reason: str | None
    before: Entry | None
    after: Entry | None

    @property
    def entry_id(self) -> uuid.UUID | None:
        entry = self.after or self.before
        return None if entry is None else entry.id


@dataclass(slots=True)
class PatientRows:
    """One patient's rows for the three tables, ready for COPY."""

    patient_id: str
    header: tuple[Any, ...]
    entries: list[tuple[Any, ...]]
    changes: list[tuple[Any, ...]]


def _new_entry_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _history(new_entries: Sequence[NewEntry], rng: random.Random) -> list[Change]:
    """Add each entry (the service's add_entry), stop or pause some, review about half of the lists."""
    changes: list[Change] = []
    for new in new_entries:
        version = len(changes) + 1
        entry = Entry(
            id=_new_entry_id(rng), created_version=version, updated_version=version,
            **new.model_dump(exclude={"reason"}),
        )
        changes.append(Change(ChangeAction.ADD, new.source, new.reason, None, entry))
        if rng.random() < STATUS_CHANGE_SHARE:
            changes.append(_status_change(entry, rng, len(changes) + 1))
    if rng.random() < REVIEWED_SHARE:
        changes.append(Change(ChangeAction.REVIEW, Source.GP, None, None, None))
    return changes


def _status_change(entry: Entry, rng: random.Random, version: int) -> Change:
    """As MedicationListService.change_status: the entry with a new status, reason and updated_version."""
    action = rng.choice([ChangeAction.STOP, ChangeAction.PAUSE])
    status = EntryStatus.STOPPED if action is ChangeAction.STOP else EntryStatus.PAUSED
    update = {"status": status, "status_reason": STOP_REASON, "updated_version": version}
    after = entry.model_copy(update=update)
    return Change(action, Source.GP, STOP_REASON, entry, after)


def _timeline(count: int, rng: random.Random, start: dt.datetime, now: dt.datetime) -> list[dt.datetime]:
    """`count` strictly rising moments from `start`, the newest at least an hour before `now`."""
    span = (now - dt.timedelta(hours=1) - start).total_seconds()
    offsets = sorted(rng.uniform(0, span) for _ in range(count))
    return [start + dt.timedelta(seconds=offset, microseconds=i) for i, offset in enumerate(offsets)]


def _json(entry: Entry | None, cache: dict[int, str]) -> str | None:
    """The entry as the repository stores it (model_dump in JSON mode); each image is serialised once."""
    if entry is None:
        return None
    key = id(entry)
    if key not in cache:
        cache[key] = entry.model_dump_json()
    return cache[key]


def patient_rows(patient_id: str, new_entries: Sequence[NewEntry], rng: random.Random, start: dt.datetime,
                 now: dt.datetime, actor: Actor = SEED_ACTOR) -> PatientRows:  # fmt: skip
    changes = _history(new_entries, rng)
    moments = _timeline(len(changes), rng, start, now)
    actor_json = actor.model_dump_json()
    images: dict[int, str] = {}
    change_rows = [
        (patient_id, version, moment, change.action.value, change.entry_id, actor_json, actor.organisation,
         change.source.value, change.reason, _json(change.before, images), _json(change.after, images))
        for version, (change, moment) in enumerate(zip(changes, moments, strict=True), start=1)
    ]  # fmt: skip
    latest = {change.after.id: change.after for change in changes if change.after is not None}
    entry_rows = [
        (patient_id, entry.id, entry.status.value, entry.product.atc, _json(entry, images),
         entry.created_version, entry.updated_version)
        for entry in latest.values()
    ]  # fmt: skip
    header = _header(patient_id, changes, moments, actor_json)
    return PatientRows(patient_id, header, entry_rows, change_rows)


def _header(patient_id: str, changes: Sequence[Change], moments: Sequence[dt.datetime], actor_json: str
            ) -> tuple[Any, ...]:  # fmt: skip
    """The list header after the last change; the reviewed marker is the last review's (version and time)."""
    reviews = [v for v, change in enumerate(changes, start=1) if change.action is ChangeAction.REVIEW]
    reviewed_version = reviews[-1] if reviews else None
    reviewed_at = moments[reviewed_version - 1] if reviewed_version else None
    reviewed_by = actor_json if reviewed_version else None
    return (patient_id, len(changes), reviewed_by, reviewed_at, reviewed_version, moments[0], moments[-1])


def build_patient(patient_id: str, seed: int, choices: CatalogueChoices, now: dt.datetime,
                  max_entries: int) -> PatientRows:  # fmt: skip
    """Everything about one patient follows from (seed, patient id): same seed, same lists."""
    rng = random.Random(f"{seed}:{patient_id}")  # noqa: S311 - synthetic data, not a secret
    history_start = now - dt.timedelta(days=rng.uniform(30, 2000))
    started = history_start.date() - dt.timedelta(days=rng.randint(0, 60))  # the medicines predate the list
    entries = planned_entries(choices, rng, started, max_entries)
    return patient_rows(patient_id, entries, rng, history_start, now)


def patient_ids(count: int, seed: int) -> Iterator[str]:
    """`count` distinct synthetic national ids (demo_patient_id draws collide now and then at this scale)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not a secret
    seen: set[str] = set()
    while len(seen) < count:
        patient_id = demo_patient_id(rng)
        if patient_id not in seen:
            seen.add(patient_id)
            yield patient_id


# -- writing -----------------------------------------------------------------------------------------------


def _copy(
    cursor: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]
) -> None:
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"  # fixed names from this module, no input
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def write_batch(connection: psycopg.Connection[Any], patients: Sequence[PatientRows]) -> list[PatientRows]:
    """Write one batch in one transaction; returns the patients that were new (the others are left alone)."""
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS pml_bulk_header (LIKE patient_list INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        _copy(cursor, "pml_bulk_header", HEADER_COLUMNS, (p.header for p in patients))
        columns = ", ".join(HEADER_COLUMNS)
        cursor.execute(
            f"INSERT INTO patient_list ({columns}) SELECT {columns} FROM pml_bulk_header "  # noqa: S608 - fixed
            "ON CONFLICT (patient_id) DO NOTHING RETURNING patient_id"
        )
        created = {row[0] for row in cursor.fetchall()}
        new = [p for p in patients if p.patient_id in created]
        _copy(cursor, "list_entry", ENTRY_COLUMNS, (row for p in new for row in p.entries))
        _copy(cursor, "list_change", CHANGE_COLUMNS, (row for p in new for row in p.changes))
    return new


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    requested: int
    created: int
    entries: int
    changes: int
    seconds: float
    catalogue_release: str | None
    sample_patients: tuple[str, ...]


def _batches(ids: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for patient_id in ids:
        batch.append(patient_id)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True, slots=True)
class _Builder:
    """What every batch is built from; handed to each child process once, not with every batch."""

    seed: int
    choices: CatalogueChoices
    now: dt.datetime
    max_entries: int

    def build(self, batch: list[str]) -> list[PatientRows]:
        return [build_patient(p, self.seed, self.choices, self.now, self.max_entries) for p in batch]


_CHILD_BUILDER: list[_Builder] = []


def _start_child(builder: _Builder) -> None:
    _CHILD_BUILDER.append(builder)


def _build_in_child(batch: list[str]) -> list[PatientRows]:
    return _CHILD_BUILDER[0].build(batch)


def _built_batches(
    batches: Iterator[list[str]], builder: _Builder, workers: int
) -> Iterator[list[PatientRows]]:
    """Batches built in `workers` child processes while this one writes (PostgreSQL parses the COPY
    meanwhile), at most workers + 1 ahead so memory stays bounded; in order, so a re-run is reproducible."""
    if workers == 0:
        yield from map(builder.build, batches)
        return
    context = multiprocessing.get_context("spawn")  # no inherited connections or threads in the children
    with ProcessPoolExecutor(workers, context, initializer=_start_child, initargs=(builder,)) as pool:
        pending: deque[Future[list[PatientRows]]] = deque()
        for batch in batches:
            pending.append(pool.submit(_build_in_child, batch))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 1) - 1))


def bulk_seed(
    settings: Settings, url: str, *, count: int, seed: int, batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None, on_batch: Callable[[int], None] = lambda _: None,
) -> BulkOutcome:
    """Create `count` synthetic patients (those that do not exist yet) with COPY, `batch_size` per commit."""
    started = time.perf_counter()
    choices = active_catalogue_choices(settings, url, seed)
    builder = _Builder(seed, choices, dt.datetime.now(dt.UTC), settings.max_list_entries)
    created = entries = changes = 0
    sample: list[str] = []
    batches = _batches(patient_ids(count, seed), batch_size)
    with psycopg.connect(libpq_url(url)) as connection:
        for rows in _built_batches(batches, builder, default_workers() if workers is None else workers):
            new = write_batch(connection, rows)
            created, entries = created + len(new), entries + sum(len(p.entries) for p in new)
            changes += sum(len(p.changes) for p in new)
            sample += [p.patient_id for p in rows[: max(0, 3 - len(sample))]]
            on_batch(len(rows))
    seconds = time.perf_counter() - started
    return BulkOutcome(count, created, entries, changes, seconds, choices.release_id, tuple(sample))
