"""PML dosage ↔ FHIR Dosage.

One FHIR Dosage element per dose PML knows (each scheduled dose, the interval dose, the as-needed dose), all
concurrent. The standard dose text (the words the prescriber wrote, which are what the patient is told) goes
in `text` of the first element, and only there, so a client that joins the texts does not repeat it. The route
is on every element. With no structured dosage, a lone element carries the text.

The reverse is exact for what PML renders, and refuses (with the reason) what PML's dosage cannot hold, such
as dose ranges, rates, bounds or several units: a dosage PML cannot store is never silently simplified.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.dosage import Dosage as FhirDosage
from pydantic import ValidationError

from api.fhir import naming
from pml.errors import InvalidInput
from pml.medication_list.schemas import AsNeededDose, Dosage, IntervalDose, ScheduledDose, TimeOfDay

_WHEN = {
    TimeOfDay.MORNING: "MORN",
    TimeOfDay.MIDDAY: "NOON",
    TimeOfDay.EVENING: "EVE",
    TimeOfDay.NIGHT: "NIGHT",
}
_TIME_OF_DAY = {code: time for time, code in _WHEN.items()}
_PERIOD_UNIT = {"hour": "h", "day": "d", "week": "wk"}
_PERIOD = {code: period for period, code in _PERIOD_UNIT.items()}
_DAILY: dict[str, Any] = {"frequency": 1, "period": 1, "periodUnit": "d"}


class UnsupportedDosage(InvalidInput):
    problem_type = "fhir-unsupported-dosage"
    title = "PML cannot store this dosage"


@dataclass(frozen=True, slots=True)
class DosageParts:
    """What the FHIR dosage elements say, in PML's terms."""

    dose_text: str | None
    route: str | None
    dosage: Dosage | None


# -- PML → FHIR ----------------------------------------------------------------------------------------------


def _quantity(amount: Decimal, unit: str) -> dict[str, Any]:
    return {"doseQuantity": {"value": amount, "unit": unit}}


def _scheduled(dose: ScheduledDose, unit: str) -> dict[str, Any]:
    if dose.time_of_day is not None:
        repeat = _DAILY | {"when": [_WHEN[dose.time_of_day]]}
    else:
        assert dose.clock_time is not None
        repeat = _DAILY | {"timeOfDay": [dose.clock_time.isoformat()]}
    return {"timing": {"repeat": repeat}, "doseAndRate": [_quantity(dose.amount, unit)]}


def _interval(dose: IntervalDose, unit: str) -> dict[str, Any]:
    repeat: dict[str, Any] = {"frequency": 1, "period": dose.every, "periodUnit": _PERIOD_UNIT[dose.period]}
    if dose.anchor_time is not None:
        repeat["timeOfDay"] = [dose.anchor_time.isoformat()]
    return {"timing": {"repeat": repeat}, "doseAndRate": [_quantity(dose.amount, unit)]}


def _as_needed(dose: AsNeededDose, unit: str) -> dict[str, Any]:
    element: dict[str, Any] = {"doseAndRate": [_quantity(dose.amount, unit)]}
    if dose.condition:
        element["asNeededCodeableConcept"] = {"text": dose.condition}
    else:
        element["asNeededBoolean"] = True
    if dose.max_per_day is not None:
        element["maxDosePerPeriod"] = {
            "numerator": {"value": dose.max_per_day, "unit": unit},
            "denominator": {"value": 1, "unit": "d", "system": naming.UCUM, "code": "d"},
        }
    return element


def dosage_elements(dosage: Dosage | None, dose_text: str | None, route: str | None) -> list[dict[str, Any]]:
    """The FHIR Dosage elements (as JSON-ready dicts) for an entry's dosage, dose text and route."""
    elements: list[dict[str, Any]] = []
    if dosage is not None:
        elements += [_scheduled(dose, dosage.unit) for dose in dosage.schedule]
        if dosage.interval is not None:
            elements.append(_interval(dosage.interval, dosage.unit))
        if dosage.as_needed is not None:
            elements.append(_as_needed(dosage.as_needed, dosage.unit))
    if not elements and (dose_text or route):
        elements.append({})
    if elements and dose_text:
        elements[0] = {"text": dose_text} | elements[0]
    if route:
        elements = [element | {"route": {"text": route}} for element in elements]
    return elements


# -- FHIR → PML ----------------------------------------------------------------------------------------------


class _Collector:
    """Collects the doses of several FHIR Dosage elements into one PML Dosage (which has a single unit)."""

    def __init__(self) -> None:
        self.unit: str | None = None
        self.schedule: list[ScheduledDose] = []
        self.interval: IntervalDose | None = None
        self.as_needed: AsNeededDose | None = None

    def amount(self, element: FhirDosage, where: str) -> Decimal:
        rates = element.doseAndRate or []
        if len(rates) != 1 or rates[0].doseQuantity is None or rates[0].rateQuantity or rates[0].rateRatio:
            raise UnsupportedDosage(
                f"{where}: give exactly one doseAndRate with a doseQuantity (no ranges, rates)"
            )
        quantity = rates[0].doseQuantity
        if quantity.value is None or not quantity.unit:
            raise UnsupportedDosage(f"{where}: the doseQuantity needs a value and a unit")
        self._same_unit(quantity.unit, where)
        return Decimal(str(quantity.value))

    def _same_unit(self, unit: str, where: str) -> None:
        if self.unit is None:
            self.unit = unit
        elif unit != self.unit:
            raise UnsupportedDosage(
                f"{where}: PML keeps one dose unit per entry, not '{self.unit}' and '{unit}'"
            )

    def add(self, element: FhirDosage, where: str) -> None:
        _refuse_unsupported(element, where)
        if element.asNeededBoolean or element.asNeededCodeableConcept is not None:
            self._add_as_needed(element, where)
        elif element.timing is not None:
            self._add_timed(element, where)
        elif element.doseAndRate:
            raise UnsupportedDosage(f"{where}: a dose needs a timing, or asNeeded")

    def _add_as_needed(self, element: FhirDosage, where: str) -> None:
        if self.as_needed is not None:
            raise UnsupportedDosage(f"{where}: PML keeps one as-needed dose per entry")
        condition = element.asNeededCodeableConcept.text if element.asNeededCodeableConcept else None
        self.as_needed = AsNeededDose(
            amount=self.amount(element, where),
            max_per_day=self._max_per_day(element, where),
            condition=condition,
        )

    def _max_per_day(self, element: FhirDosage, where: str) -> Decimal | None:
        ratio = element.maxDosePerPeriod
        if ratio is None:
            return None
        numerator, denominator = ratio.numerator, ratio.denominator
        if (
            numerator is None
            or numerator.value is None
            or denominator is None
            or denominator.value != 1
            or (denominator.code or denominator.unit) != "d"
        ):
            raise UnsupportedDosage(f"{where}: maxDosePerPeriod must be an amount per 1 d")
        self._same_unit(numerator.unit or "", where)
        return Decimal(str(numerator.value))

    def _add_timed(self, element: FhirDosage, where: str) -> None:
        timing = element.timing
        repeat = timing.repeat if timing is not None else None
        if timing is None or repeat is None or timing.event or timing.code:
            raise UnsupportedDosage(f"{where}: PML reads timing.repeat only")
        _refuse_repeat_extras(repeat, where)
        amount = self.amount(element, where)
        if repeat.when:
            self.schedule += [
                ScheduledDose(time_of_day=_time_of_day(code, where), amount=amount) for code in repeat.when
            ]
        elif _is_daily(repeat) and repeat.timeOfDay:
            self.schedule += [ScheduledDose(clock_time=time, amount=amount) for time in repeat.timeOfDay]
        else:
            self._add_interval(repeat, amount, where)

    def _add_interval(self, repeat: Any, amount: Decimal, where: str) -> None:
        if self.interval is not None:
            raise UnsupportedDosage(f"{where}: PML keeps one interval dose per entry")
        if (repeat.frequency or 1) != 1 or repeat.period is None or repeat.periodUnit not in _PERIOD:
            raise UnsupportedDosage(f"{where}: an interval is frequency 1 per period h, d or wk")
        anchors = repeat.timeOfDay or []
        if len(anchors) > 1:
            raise UnsupportedDosage(f"{where}: an interval has at most one timeOfDay (its anchor)")
        period = Decimal(str(repeat.period))
        if period != period.to_integral_value():
            raise UnsupportedDosage(f"{where}: the period must be a whole number")
        self.interval = IntervalDose(
            every=int(period),
            period=_PERIOD[repeat.periodUnit],
            amount=amount,
            anchor_time=anchors[0] if anchors else None,
        )

    def dosage(self) -> Dosage | None:
        if self.unit is None:
            return None
        try:
            return Dosage(
                unit=self.unit, schedule=self.schedule, interval=self.interval, as_needed=self.as_needed
            )
        except ValidationError as error:
            raise UnsupportedDosage(
                "the dosage is not valid for PML", errors=error.errors(include_url=False, include_input=False)
            ) from None


def _refuse_unsupported(element: FhirDosage, where: str) -> None:
    unsupported = [
        name
        for name in (
            "additionalInstruction",
            "patientInstruction",
            "site",
            "method",
            "maxDosePerAdministration",
            "maxDosePerLifetime",
            "extension",
            "modifierExtension",
        )
        if getattr(element, name, None)
    ]
    if unsupported:
        raise UnsupportedDosage(f"{where}: PML cannot store {', '.join(unsupported)}")


def _refuse_repeat_extras(repeat: Any, where: str) -> None:
    extras = [
        name
        for name in (
            "boundsDuration",
            "boundsPeriod",
            "boundsRange",
            "count",
            "countMax",
            "duration",
            "durationMax",
            "frequencyMax",
            "periodMax",
            "dayOfWeek",
            "offset",
        )
        if getattr(repeat, name, None) is not None
    ]
    if extras:
        raise UnsupportedDosage(f"{where}: PML cannot store timing.repeat.{', '.join(extras)}")


def _is_daily(repeat: Any) -> bool:
    return (repeat.frequency or 1) == 1 and (repeat.period in (None, 1)) and repeat.periodUnit in (None, "d")


def _time_of_day(code: str | None, where: str) -> TimeOfDay:
    if code is None or code not in _TIME_OF_DAY:
        raise UnsupportedDosage(
            f"{where}: timing.repeat.when '{code}' is not one of {', '.join(_TIME_OF_DAY)}"
        )
    return _TIME_OF_DAY[code]


def _route_text(element: FhirDosage, where: str) -> str | None:
    if element.route is None:
        return None
    if element.route.coding or not element.route.text:
        raise UnsupportedDosage(f"{where}: PML keeps the route as text (route.text), not coded")
    text: str = element.route.text
    return text


def _single_text(values: list[str | None], what: str) -> str | None:
    present = [value for value in values if value]
    if len(set(present)) > 1:
        raise UnsupportedDosage(f"PML keeps one {what} per entry; the dosage elements give several")
    return present[0] if present else None


def dosage_parts(elements: list[FhirDosage]) -> DosageParts:
    """PML's dose text, route and dosage from FHIR Dosage elements; refuses what PML cannot store."""
    collector = _Collector()
    for index, element in enumerate(elements):
        collector.add(element, f"dosage[{index}]")
    texts = [element.text for element in elements]
    if any(texts[1:]):
        if texts[0] and all(text in (None, texts[0]) for text in texts[1:]):
            pass  # the same text repeated on every element is the same one dose text
        else:
            raise UnsupportedDosage("put the standard dose text in dosage[0].text only")
    routes = [_route_text(element, f"dosage[{index}]") for index, element in enumerate(elements)]
    return DosageParts(texts[0] if texts else None, _single_text(routes, "route"), collector.dosage())
