"""Frozen slots dataclasses built faster: the records reconciliation makes hundreds of per snapshot
(resolutions, medicines, findings, strengths, dose readings, pairs) and the catalogue search's parsed queries.
It lives here because `pml` may import `interactions` and not the other way round.

A frozen dataclass's own __init__ sets each field with object.__setattr__, which, because the class overrides
__setattr__ to refuse changes, checks the type's whole hierarchy on every call: about 0.15 µs a field, over a
microsecond a record, several per cent of a cold reconciliation. `slot_init` gives the class an __init__ with
the same parameters that sets each slot through the slot's own descriptor instead (about 0.03 µs a field).
The class is otherwise untouched: still frozen (assignment raises FrozenInstanceError), equal, hashable and
printed as before.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

RecordT = TypeVar("RecordT")

# Stands for "not given" where a field has a default factory, as in the __init__ dataclasses writes.
_NOT_GIVEN: Any = object()


def slot_init(cls: type[RecordT]) -> type[RecordT]:
    """Replace the __init__ of a frozen slots dataclass (applied above @dataclass) by one that sets each slot
    through its descriptor. Refuses what it does not reproduce: keyword-only or init=False fields and
    __post_init__. The dataclass's own __init__ stays reachable as `__init__.__wrapped__`."""
    _check_reproducible(cls)
    namespace: dict[str, Any] = {"_NOT_GIVEN": _NOT_GIVEN}
    parameters, assignments = [], []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        namespace[f"_set_{field.name}"] = cls.__dict__[field.name].__set__
        value = field.name
        if field.default is not dataclasses.MISSING:
            namespace[f"_default_{field.name}"] = field.default
            parameters.append(f"{field.name}=_default_{field.name}")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{field.name}"] = field.default_factory
            parameters.append(f"{field.name}=_NOT_GIVEN")
            value = f"_factory_{field.name}() if {field.name} is _NOT_GIVEN else {field.name}"
        else:
            parameters.append(field.name)
        assignments.append(f"    _set_{field.name}(self, {value})")
    # Generated from the field names only, as dataclasses generates its own __init__.
    source = f"def __init__(self, {', '.join(parameters)}):\n" + "\n".join(assignments) + "\n"
    exec(source, namespace)  # noqa: S102
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__wrapped__ = cls.__init__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


def _check_reproducible(cls: type[Any]) -> None:
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: slot_init is for frozen dataclasses with slots")
    if hasattr(cls, "__post_init__") or any(not f.init or f.kw_only for f in dataclasses.fields(cls)):
        raise TypeError(f"{cls.__name__}: slot_init does not reproduce __post_init__, init=False or kw_only")
