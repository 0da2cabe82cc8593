"""The shortcuts reconciliation takes for speed build exactly what the plain way builds. Each is checked
against the plain way over the whole corpus, so a schema or catalogue change that breaks one fails here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel, Field

from pml.reconciliation.evidence import _plainly_constructible, constructed
from pml.reconciliation.interpretation.resolver import Resolver
from pml.reconciliation.schemas import Evidence, RelatedView
from tests.pml.reconciliation.corpus import all_outcomes


def _views(model: BaseModel) -> Iterator[BaseModel]:
    """The model and every model nested in it (through fields, lists and dicts)."""
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
