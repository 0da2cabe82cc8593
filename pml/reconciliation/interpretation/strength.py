"""Strengths as sources write them ("500mg", "2,5 mg", "1 g", "50 mg/5 ml", "25 mikrog/time", "0,1 mg/dose"),
read into one comparable form.

Mass is kept in milligrams, so "1 g" and "1000 mg" are one strength; a per-volume strength is reduced to one
unit of its denominator, so "50 mg/5 ml" and "10 mg/ml" are one strength too. Units we do not know (IE, E,
mmol) are compared as written. Anything we cannot read gives None: an unknown strength never equals another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from interactions.frozen import slot_init

# Mass units and their factor to mg; the other units are kept as they are (lower case).
_TO_MG: dict[str, Decimal] = {
    "g": Decimal(1000), "mg": Decimal(1), "mikrog": Decimal("0.001"), "mcg": Decimal("0.001"),
    "µg": Decimal("0.001"), "ug": Decimal("0.001"), "mikrogram": Decimal("0.001"), "ng": Decimal("0.000001"),
}  # fmt: skip
_UNIT_ALIASES = {"ie": "IE", "e": "E", "iu": "IE", "u": "E", "enheter": "E", "mmol": "mmol", "%": "%"}
_DENOMINATOR_ALIASES = {"t": "time", "time": "time", "h": "time", "døgn": "døgn", "ml": "ml", "dose": "dose",
                        "g": "g", "l": "l", "24 timer": "døgn", "doser": "dose"}  # fmt: skip
_UNIT = r"(?:g|mg|mikrog(?:ram)?|mcg|µg|ug|ng|ie|iu|e|u|enheter|mmol|%)"
_NUMBER = r"\d+(?:[.,]\d+)?"
_STRENGTH = re.compile(
    rf"(?<![\w.,])(?P<value>{_NUMBER})\s*(?P<unit>{_UNIT})(?![\w])"
    rf"(?:\s*/\s*(?P<per_value>{_NUMBER})?\s*"
    r"(?P<per_unit>ml|dose|doser|time|t|h|døgn|g|l|24 timer)(?![\w]))?",
    re.IGNORECASE,
)
_BARE_NUMBER = re.compile(rf"^\s*(?P<value>{_NUMBER})\s*$")


@slot_init
@dataclass(frozen=True, slots=True)
class Strength:
    """One substance amount, per one unit of `per_unit` when the strength is a concentration or a rate."""

    value: Decimal
    unit: str
    per_unit: str | None = None

    def __str__(self) -> str:
        value = format(self.value.normalize(), "f")
        return f"{value} {self.unit}" + (f"/{self.per_unit}" if self.per_unit else "")


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None


def _canonical(value: Decimal, unit: str, per_value: Decimal | None, per_unit: str | None) -> Strength | None:
    unit_key = unit.lower()
    if unit_key in _TO_MG:
        value, unit = value * _TO_MG[unit_key], "mg"
    else:
        unit = _UNIT_ALIASES.get(unit_key, unit_key)
    if per_unit is not None:
        per_unit = _DENOMINATOR_ALIASES.get(per_unit.lower(), per_unit.lower())
        if per_value is not None:
            if per_value == 0:
                return None
            value = value / per_value
    return Strength(value.normalize(), unit, per_unit)


# One strength as written: value, unit, denominator value, denominator unit ("" for a part not written).
WrittenStrength = tuple[str, str, str, str]


def strengths_written_in(text: str) -> tuple[WrittenStrength, ...]:
    """Each strength in `text` as written, found by the regex engine alone (findall gives the groups)."""
    return tuple(_STRENGTH.findall(text))


def strength_of(written: WrittenStrength) -> Strength | None:
    """One strength as written, in the comparable form; None when it cannot be read."""
    value_text, unit, per_value_text, per_unit = written
    value = _decimal(value_text)
    if value is None or value <= 0:
        return None
    per_value = _decimal(per_value_text) if per_value_text else None
    return _canonical(value, unit, per_value, per_unit or None)


def parse_strengths(text: str | None) -> tuple[Strength, ...]:
    """Every strength written in `text`, in order ("500 mg/30 mg" gives two)."""
    if not text:
        return ()
    found = (strength_of(written) for written in strengths_written_in(text))
    return tuple(strength for strength in found if strength is not None)


def without_strengths(text: str) -> str:
    """The text with its strengths taken out ("Durogesic depotplaster 25 mikrog/time" -> "Durogesic
    depotplaster"), so a denominator such as "time" is not read as part of a name."""
    return _STRENGTH.sub(" ", text)


def written_numbers(text: str | None) -> frozenset[Decimal]:
    """The numbers of the strengths in `text` as written, before any unit is converted ("1 g" gives 1)."""
    found = (_decimal(match["value"]) for match in _STRENGTH.finditer(text or ""))
    return frozenset(value for value in found if value is not None)


def bare_number(text: str | None) -> Decimal | None:
    """The number of a text that is only a number ("500", "2,5"): a strength field that left out its unit."""
    bare = _BARE_NUMBER.match(text or "")
    return _decimal(bare["value"]) if bare else None


def same_strengths(first: frozenset[Strength], second: frozenset[Strength]) -> bool:
    """Whether two readings state the same strengths. Both are already in one form ("0,5 g" and "500 mg" are
    one strength); one side leaving out the denominator the other writes ("25 mikrog" beside "25 mikrog/time")
    says no other amount, so it agrees."""
    if first == second:
        return True
    return {(s.value, s.unit) for s in first} == {(s.value, s.unit) for s in second} and not (
        {s.per_unit for s in first} - {None} and {s.per_unit for s in second} - {None}
    )


def written_strengths(text: str | None) -> tuple[str, ...]:
    """The strengths in `text` exactly as written there ("Glucophage 1 g" gives "1 g")."""
    return tuple(match.group(0).strip() for match in _STRENGTH.finditer(text or ""))


def parse_strength(text: str | None, *, default_unit: str | None = None) -> Strength | None:
    """The one strength in `text`, or None when there is none or more than one.

    A bare number ("500") takes `default_unit` when given: a source's strength field often omits "mg".
    """
    if text is None:
        return None
    strengths = parse_strengths(text)
    if len(strengths) == 1:
        return strengths[0]
    bare = _BARE_NUMBER.match(text)
    if not strengths and bare and default_unit:
        value = _decimal(bare["value"])
        return None if value is None or value <= 0 else _canonical(value, default_unit, None, None)
    return None


def catalogue_strength(
    value: str | None, unit: str | None, per_value: str | None, per_unit: str | None
) -> Strength | None:
    """A FEST VirkestoffMedStyrke (Styrke, StyrkeNevner) in the same form as a parsed strength."""
    if not value or not unit:
        return None
    amount = _decimal(value)
    per_amount = _decimal(per_value) if per_value else None
    if amount is None or amount <= 0:
        return None
    return _canonical(amount, unit, per_amount, per_unit)
