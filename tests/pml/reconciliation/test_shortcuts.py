"""The shortcuts reconciliation takes for speed build exactly what the plain way builds. Each is checked
against the plain way (over the corpus, the catalogue or hand-made cases), so a schema or catalogue change
that breaks one fails here."""

from __future__ import annotations

import dataclasses
import inspect
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, Field

from interactions.frozen import slot_init
from interactions.search import ParsedQuery
from pml.medication_list.schemas import Entry
from pml.reconciliation.evidence import _plainly_constructible, constructed
from pml.reconciliation.findings import DraftFinding
from pml.reconciliation.interpretation.catalogue_facts import common_atc
from pml.reconciliation.interpretation.dose_text import DoseReading, DoseSummary
from pml.reconciliation.interpretation.medicine import Medicine
from pml.reconciliation.interpretation.resolver import (
    NAME_MARGIN,
    MedicineRef,
    NameCandidate,
    Resolution,
    Resolver,
    _explained,
    _parsed,
)
from pml.reconciliation.interpretation.strength import Strength
from pml.reconciliation.matching import _RULE_RANK as RULE_RANK
from pml.reconciliation.matching import Pairing, _agreement, _candidate_pairs, certain_rule, match
from pml.reconciliation.pipeline import interpret_list, interpret_snapshot
from pml.reconciliation.schemas import (
    Evidence,
    FindingClass,
    RelatedView,
    SnapshotEntry,
    SnapshotSubmission,
)
from tests.pml.reconciliation.corpus import all_outcomes, corpus, list_entries


def _views(model: BaseModel) -> Iterator[BaseModel]:
    """The model and every model nested in it (through fields and lists)."""
    yield model
    for value in model.__dict__.values():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, BaseModel):
                yield from _views(item)


@pytest.fixture(scope="module")
def evidence(resolver: Resolver) -> list[Evidence]:
    return [finding.evidence for outcome in all_outcomes(resolver) for finding in outcome.findings]


def test_views_are_what_model_construct_builds(evidence: list[Evidence]) -> None:
    checked = 0
    for view in (v for item in evidence for v in _views(item) if not isinstance(v, RelatedView)):
        plain = type(view).model_construct(**view.__dict__)
        assert view.__dict__ == plain.__dict__
        assert view.model_fields_set == plain.model_fields_set == set(type(view).model_fields)
        assert view.__pydantic_extra__ is None
        assert view.__pydantic_private__ is None
        checked += 1
    assert checked > 1000


def test_the_evidence_built_without_validation_is_valid(evidence: list[Evidence]) -> None:
    for item in evidence:
        assert Evidence.model_validate(item.model_dump()) == item


def test_a_model_constructed_would_build_wrongly_is_refused() -> None:
    class Plain(BaseModel):
        value: int = 0

    class Aliased(BaseModel):
        value: int = Field(default=0, alias="v")

    assert constructed(Plain, value=1) == Plain.model_construct(value=1)
    _plainly_constructible(Plain)
    with pytest.raises(TypeError):
        _plainly_constructible(Aliased)


def _pairs_ranking_every_pair(sources: list[Medicine], entries: list[Medicine]) -> set[tuple[int, int]]:
    """The pairs matching's greedy choice takes when the agreement of every certain pair is computed."""
    ranked = sorted(
        (RULE_RANK[rule], -_agreement(sources[i], entries[j]), i, j)
        for i, j in _candidate_pairs(sources, entries)
        if (rule := certain_rule(sources[i], entries[j])) is not None
    )
    taken: set[tuple[int, int]] = set()
    for _rank, _agree, i, j in ranked:
        if all(i != a and j != b for a, b in taken):
            taken.add((i, j))
    return taken


def test_matching_ranks_only_contested_pairs_and_takes_the_same_pairs(resolver: Resolver) -> None:
    competing = 0
    for patient in corpus()["patients"]:
        listed = interpret_list(list(list_entries(patient).values()), resolver)
        for snapshot in patient["snapshots"]:
            submission = SnapshotSubmission.model_validate(snapshot["submission"])
            sources = interpret_snapshot(submission.entries, resolver)
            taken = {(sources.index(p.source), listed.index(p.entry)) for p in match(sources, listed).pairs}
            assert taken == _pairs_ranking_every_pair(sources, listed)
            certain = [
                (i, j) for i, j in _candidate_pairs(sources, listed) if certain_rule(sources[i], listed[j])
            ]
            competing += len(certain) - len(taken)
    assert competing >= 20  # the corpus has pairs that compete (duplicates, one substance twice)


def test_contested_pairs_are_still_decided_by_how_well_they_agree(resolver: Resolver) -> None:
    """Two paracetamol entries on each side, no strengths (so one rule for all four pairs): only the agreement
    (as needed or not, the regimen) ties the as-needed to the as-needed."""
    listed = [
        _list_entry("Paracetamol", "1 tablett x 4"),
        _list_entry("Paracetamol", "1 tablett ved behov"),
    ]
    sent = [
        SnapshotEntry(name="Paracetamol", dose_text="1 v.b."),
        SnapshotEntry(name="Paracet", dose_text="1x4"),
    ]
    sources, entries = interpret_snapshot(sent, resolver), interpret_list(listed, resolver)
    pairs = {p.source.source_index: p.entry.entry_id for p in match(sources, entries).pairs}
    assert pairs == {0: listed[1].id, 1: listed[0].id}


def _list_entry(name: str, dose_text: str) -> Entry:
    return Entry.model_validate(
        {
            "id": uuid.uuid4(),
            "display_name": name,
            "product": {},
            "dose_text": dose_text,
            "source": "gp",
            "status": "active",
            "created_version": 1,
            "updated_version": 1,
        }
    )


def test_the_per_release_brand_table_picks_what_the_products_of_a_brand_give(resolver: Resolver) -> None:
    """CatalogueFacts.brands against the products of each brand filtered name by name (the plain way)."""
    facts = resolver.facts
    unknown = frozenset({Strength(Decimal("123.4"), "mg")})
    for words, products in facts.products_of_brand.items():
        if len({p.substances for p in products}) != 1:
            assert words not in facts.brands
            continue
        brand = facts.brands[words]
        assert brand.substances == products[0].substances
        for written in [frozenset(), unknown, *(p.strengths for p in products)]:
            fitting = [p for p in products if not written or p.strengths == written]
            chosen = fitting or products
            choice = brand.choice(written)
            assert choice.product_id == (chosen[0].product.id if len(chosen) == 1 else None)
            assert choice.atc == common_atc(chosen)
            units = {p.dose_unit for p in chosen}
            assert choice.dose_unit == (units.pop() if len(units) == 1 else None)
    assert len(facts.brands) > 50


def _misspelt(name: str) -> list[str]:
    """The name and a few ways of getting it wrong: a letter left out, two swapped, c for k and k for c."""
    middle = len(name) // 2
    return [
        name,
        name[:middle] + name[middle + 1 :],
        name[:middle] + name[middle + 1 : middle + 2] + name[middle : middle + 1] + name[middle + 2 :],
        name.replace("k", "c"),
        name.replace("c", "k"),
    ]


def test_the_rival_check_decides_as_weighing_every_rival_would(resolver: Resolver) -> None:
    """The resolver looks for a rival lazily (candidates first, the catalogue only when they leave it open,
    a brand's fuzzy score only where it counts); weighing every rival at once decides the same."""
    catalogue = resolver.facts.catalogue
    names = {product.brand_name for product in catalogue.products.values()}
    names |= {substance.name for substance in catalogue.substances.values()}
    # Pinex (paracetamol) written so that Pinex Forte (paracetamol and codeine) scores as close: the brand of
    # the combination is the rival there.
    names |= {"Pine", "PinexFort", "Pinex Frt", "Pinex fortetab"}
    compared, decided = 0, 0
    for name in sorted(n for written in names for n in _misspelt(written) if n):
        candidates = resolver._name_candidates(name)
        if not candidates:
            continue
        query = _parsed(name).name
        best, fully_named = resolver._best_candidate(candidates, query)
        among_candidates = max(
            (
                c.score
                for c in candidates
                if not _explained(
                    frozenset(c.substances),
                    best,
                    fully_named,
                    brand_matches=resolver._brand_matches(c, query),
                )
            ),
            default=0.0,
        )
        rival = max(among_candidates, resolver._rival_in_catalogue(query, best, fully_named))
        has_rival = resolver._has_rival(candidates, query, best, fully_named)
        assert has_rival == (best.score - rival < NAME_MARGIN), name
        compared += 1
        decided += has_rival
    assert compared >= 300
    assert decided >= 5  # look-alikes the check keeps apart are among them


SLOT_INIT_RECORDS = [
    Resolution,
    MedicineRef,
    NameCandidate,
    Medicine,
    Strength,
    DoseSummary,
    DoseReading,
    DraftFinding,
    Pairing,
    ParsedQuery,
]


@pytest.mark.parametrize("record", SLOT_INIT_RECORDS, ids=lambda record: record.__name__)
def test_slot_init_takes_the_parameters_the_dataclass_init_takes(record: type[Any]) -> None:
    fast = inspect.signature(record.__init__, follow_wrapped=False).parameters
    plain = inspect.signature(record.__init__.__wrapped__).parameters
    assert list(fast) == list(plain)
    for name, parameter in plain.items():
        assert fast[name].kind == parameter.kind
        field = next((f for f in dataclasses.fields(record) if f.name == name), None)
        if field is not None and field.default_factory is not dataclasses.MISSING:
            assert fast[name].default is not inspect.Parameter.empty  # "not given": the factory makes one
        else:
            assert fast[name].default == parameter.default


@pytest.mark.parametrize("record", SLOT_INIT_RECORDS, ids=lambda record: record.__name__)
def test_slot_init_builds_what_the_dataclass_init_builds(record: type[Any]) -> None:
    fields = dataclasses.fields(record)
    required = [object() for f in fields if f.default is f.default_factory is dataclasses.MISSING]
    every = [object() for _field in fields]
    for arguments in (required, every):
        fast = record(*arguments)
        plain = object.__new__(record)
        record.__init__.__wrapped__(plain, *arguments)
        for field in fields:
            made = field.default_factory is not dataclasses.MISSING and len(arguments) < len(fields)
            if made:  # each made its own (a new dict, a new uuid): the same kind of value
                assert type(getattr(fast, field.name)) is type(getattr(plain, field.name))
            else:
                assert getattr(fast, field.name) is getattr(plain, field.name)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(fast, fields[0].name, None)


def test_slot_init_makes_a_new_default_for_each_record() -> None:
    first, second = (DraftFinding(FindingClass.UNCHANGED, "x", Evidence(), None) for _ in range(2))
    assert first.id != second.id
    assert first.id.version == 4


def test_slot_init_refuses_what_it_would_build_differently() -> None:
    @dataclasses.dataclass(slots=True)
    class NotFrozen:
        value: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithPostInit:
        value: int

        def __post_init__(self) -> None:
            pass

    for record in (NotFrozen, WithPostInit):
        with pytest.raises(TypeError):
            slot_init(record)
