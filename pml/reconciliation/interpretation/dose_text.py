"""Norwegian dose text ("1+0+1", "1 x 3", "2 tabletter morgen", "ved behov maks 4 per døgn") read into a
comparable summary and, where the text says it exactly, a structured `Dosage`.

Two outputs, because they answer different questions:
- `DoseSummary` is for comparing two sources: amount per day, times per day, time-of-day slots, interval,
  as-needed and its daily maximum. "1 x 2" and "1+0+1" have the same summary apart from the slots.
- `Dosage` is what a new list entry stores; it is only built when nothing has to be guessed ("1 x 3" names no
  times of day, so it gets a summary but no schedule).
The original text is always kept beside both. Text we cannot read gives neither, and compares as "unknown",
never as "equal".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache

from pydantic import ValidationError

from interactions.frozen import slot_init
from pml.medication_list.schemas import AsNeededDose, Dosage, IntervalDose, TimeOfDay
from pml.reconciliation.interpretation.strength import Strength

_FRACTIONS = {"½": "0.5", "¼": "0.25", "¾": "0.75"}
_FRACTION_AFTER_DIGIT = {f: re.compile(rf"(\d){f}") for f in _FRACTIONS}
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d)")
_APPROXIMATELY = re.compile(r"\b(?:ca\.?|cirka|à)\s*")
_READ_CACHE_SIZE = 8192
_NUMBER = r"\d+(?:\.\d+)?"
# Dose units as clinicians write them, to the unit FEST calls them (EnhetDosering).
_UNITS: dict[str, str] = {
    "tablett": "tablett", "tabletter": "tablett", "tyggetablett": "tablett", "tyggetabletter": "tablett",
    "depottablett": "tablett", "depottabletter": "tablett", "enterotablett": "tablett",
    "enterotabletter": "tablett", "smeltetablett": "tablett", "smeltetabletter": "tablett",
    "brusetablett": "tablett", "brusetabletter": "tablett", "tabl": "tablett", "tab": "tablett",
    "tbl": "tablett",
    "tabs": "tablett", "t": "tablett", "kapsel": "kapsel", "kapsler": "kapsel", "kaps": "kapsel",
    "kap": "kapsel", "ml": "ml", "mg": "mg", "g": "g", "mikrog": "mikrog", "dråpe": "dråpe",
    "dråper": "dråpe",
    "dr": "dråpe", "gtt": "dråpe", "plaster": "plaster", "dose": "dose", "doser": "dose", "pust": "dose",
    "puff": "dose", "inhalasjon": "dose", "inhalasjoner": "dose", "sprut": "dose", "pose": "dosepose",
    "poser": "dosepose", "dosepose": "dosepose", "doseposer": "dosepose", "brev": "dosepose",
    "stikkpille": "stikkpille", "stikkpiller": "stikkpille", "supp": "stikkpille", "e": "enhet",
    "ie": "enhet", "enheter": "enhet", "enhet": "enhet", "skje": "skje", "ss": "skje", "ts": "teskje",
}  # fmt: skip
_UNIT_PATTERN = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_TIMES: dict[str, TimeOfDay] = {
    "morgen": TimeOfDay.MORNING, "morgenen": TimeOfDay.MORNING, "frokost": TimeOfDay.MORNING,
    "formiddag": TimeOfDay.MORNING, "middag": TimeOfDay.MIDDAY, "lunsj": TimeOfDay.MIDDAY,
    "kveld": TimeOfDay.EVENING, "kvelden": TimeOfDay.EVENING, "kveldsmat": TimeOfDay.EVENING,
    "natt": TimeOfDay.NIGHT, "natten": TimeOfDay.NIGHT, "sengetid": TimeOfDay.NIGHT,
}  # fmt: skip
_SLOT_ORDER = (TimeOfDay.MORNING, TimeOfDay.MIDDAY, TimeOfDay.EVENING, TimeOfDay.NIGHT)

_BY_CHART = re.compile(r"etter skjema|ifølge skjema|iht\.?\s*(?:inr|skjema)|etter inr|etter avtale|se skjema")
_AS_NEEDED = re.compile(
    r"\bved behov\b|\bv\.\s?b\.?|\bvb\b|\better behov\b|\bbehovsmedisin|\bprn\b|"
    r"\bved (?:smerter?|søvnvansker|"
    r"søvnløshet|uro|angst|kvalme|tungpust|anfall|forstoppelse|obstipasjon|feber|hodepine|allergi|kløe)\b"
)
_MAX_PER_DAY = re.compile(
    rf"(?:maks(?:imalt|imum)?\.?|inntil|max\.?|høyst)\s*({_NUMBER})\s*(?:({_UNIT_PATTERN})\b\.?)?\s*"
    r"(?:ganger\s*)?(?:per|pr\.?|i|/|om)\s*(?:døgn|døgnet|dag|dagen|24\s*t(?:imer)?)"
)
_TIMES_A_DAY_MAX = re.compile(
    rf"(?:inntil|maks(?:imalt)?\.?|høyst|max\.?)\s*({_NUMBER})\s*ganger\s*"
    r"(?:daglig|per døgn|pr\.? døgn|i døgnet|om dagen|per dag|pr\.? dag)"
)
_PLUS = re.compile(
    rf"^({_NUMBER})\s*\+\s*({_NUMBER})\s*\+\s*({_NUMBER})(?:\s*\+\s*({_NUMBER}))?(?:\s*({_UNIT_PATTERN})\b)?"
)
_TIMES_X = re.compile(rf"^({_NUMBER})\s*(?:({_UNIT_PATTERN})\b\.?)?\s*[x×]\s*({_NUMBER})\b")
_TIMES_WORDS = re.compile(
    rf"^({_NUMBER})\s*(?:({_UNIT_PATTERN})\b\.?)?\s*({_NUMBER}|en|to|tre|fire)\s*ganger?\s*"
    r"(?:daglig|dgl\.?|per dag|pr\.? dag|om dagen|i døgnet|per døgn|pr\.? døgn)"
)
_ONCE_DAILY = re.compile(
    rf"^({_NUMBER})\s*(?:({_UNIT_PATTERN})\b\.?)?\s*(?:(?:1|en) gang\s*)?"
    r"(?:daglig|dgl\.?|per dag|pr\.? dag|om dagen|hver dag|x\s*1)$"
)
_INTERVAL = re.compile(
    rf"^(?:skift(?:es)?\s*)?(?:({_NUMBER})\s*)?(?:({_UNIT_PATTERN})\b\.?\s*)?(?:skift(?:es)?\s*)?"
    r"(?:hver|hvert)\s*(\d+)?\.?\s*(time|timer|dag|døgn|uke)\b"
)
_EVERY_OTHER_DAY = re.compile(rf"^({_NUMBER})\s*(?:({_UNIT_PATTERN})\b\.?)?\s*annen\s*hver\s*dag")
_WEEKLY = re.compile(
    rf"^({_NUMBER})\s*(?:({_UNIT_PATTERN})\b\.?)?\s*"
    r"(?:(?:1|en) gang\s*(?:i|per|pr\.?)\s*uken?|ukentlig|hver uke|"
    r"(?:1|en) gang i uka)"
)
_SLOT_TOKENS = re.compile(rf"({_NUMBER})|({_UNIT_PATTERN})\b|([a-zæøå]+)")
_SLOT_FILLER = frozenset(
    {
        "og",
        "om",
        "til",
        "ved",
        "i",
        "på",
        "hver",
        "daglig",
        "før",
        "etter",
        "med",
        "fastende",
        "mat",
        "maten",
        "måltid",
        "vann",
        "glass",
    }
)
_WORD_NUMBERS = {"en": "1", "to": "2", "tre": "3", "fire": "4"}


class DoseKind(StrEnum):
    REGULAR = "regular"
    INTERVAL = "interval"
    AS_NEEDED = "as_needed"


@slot_init
@dataclass(frozen=True, slots=True)
class DoseSummary:
    """A dose text reduced to what two sources can be compared on."""

    kind: DoseKind
    unit: str | None
    amount: Decimal | None = None  # per administration (upper bound of a range such as "1-2")
    per_day: Decimal | None = None
    times_per_day: int | None = None
    slots: tuple[tuple[TimeOfDay, Decimal], ...] = ()
    every: tuple[int, str] | None = None
    max_per_day: Decimal | None = None

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.kind is DoseKind.AS_NEEDED:
            limit = f", max {_plain(self.max_per_day)}{unit} per day" if self.max_per_day else ""
            return f"as needed {_plain(self.amount)}{unit}{limit}"
        if self.kind is DoseKind.INTERVAL and self.every:
            return f"{_plain(self.amount)}{unit} every {self.every[0]} {self.every[1]}"
        if self.slots:
            return " + ".join(f"{_plain(a)} {t.value}" for t, a in self.slots) + unit
        return f"{_plain(self.amount)}{unit} x {self.times_per_day} daily"


@slot_init
@dataclass(frozen=True, slots=True)
class DoseReading:
    """What a dose text says, as far as it could be read; `text` is always the original."""

    text: str | None
    summary: DoseSummary | None = None
    stored_dosage: Dosage | None = None  # a list entry's own structured dosage, when its text says too little
    by_chart: bool = False

    @property
    def understood(self) -> bool:
        return self.summary is not None

    @property
    def dosage(self) -> Dosage | None:
        """The structured dosage: the entry's own, else what the text says exactly. Built when asked, not
        when the text is read: only a finding that adds or changes an entry asks, for a few entries in ten."""
        if self.stored_dosage is not None:
            return self.stored_dosage
        return _dosage(self.summary) if self.summary else None


def _plain(value: Decimal | None) -> str:
    return "?" if value is None else format(value.normalize(), "f")


def _normalised(text: str) -> str:
    if not text.isascii():  # ASCII text has no fractions and is its own NFKC form: most dose texts
        text = _unicode_normalised(text)
    text = text.lower().strip()
    if "," in text:  # the substitutions only when their text is there: most dose texts have neither
        text = _DECIMAL_COMMA.sub(".", text)
    if "ca" in text or "cirka" in text or "à" in text:
        text = _APPROXIMATELY.sub("", text)
    return " ".join(text.split())  # runs of whitespace as one space (str.split's whitespace is re's \s)


def _unicode_normalised(text: str) -> str:
    for fraction, decimal in _FRACTIONS.items():  # before NFKC, which would turn "½" into "1⁄2"
        if fraction in text:
            text = (
                _FRACTION_AFTER_DIGIT[fraction].sub(rf"\g<1>{decimal[1:]}", text).replace(fraction, decimal)
            )
    return unicodedata.normalize("NFKC", text)


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(_WORD_NUMBERS.get(text, text))
    except InvalidOperation:
        return None
    return value if value > 0 else None


def _unit(word: str | None, default_unit: str | None) -> str | None:
    return _UNITS.get(word.rstrip("."), default_unit) if word else default_unit


@lru_cache(maxsize=_READ_CACHE_SIZE)
def read_dose_text(text: str | None, *, default_unit: str | None = None) -> DoseReading:
    """Read a dose text; `default_unit` (from the product's form, e.g. "tablett") fills in a unit left out.
    Sources repeat the same few hundred texts, so readings are cached (they are immutable)."""
    if not text or not text.strip():
        return DoseReading(text=text)
    normal = _normalised(text)
    if _BY_CHART.search(normal):
        return DoseReading(text=text, by_chart=True)
    if _AS_NEEDED.search(normal):
        summary = _as_needed(normal, default_unit)
    else:
        summary = _regular(normal, default_unit)
    return DoseReading(text=text, summary=summary)


# -- as needed ----------------------------------------------------------------------------------------


def _as_needed(normal: str, default_unit: str | None) -> DoseSummary | None:
    if _plus(normal) or _times_x(normal) or re.search(r"\b(?:morgen|middag|kveld|natt)", normal):
        return None  # a regular dose plus an as-needed one: too much to read safely
    amount_match = re.match(rf"^(?:({_NUMBER})\s*-\s*)?({_NUMBER})\s*(?:({_UNIT_PATTERN})\b\.?)?", normal)
    amount = _decimal(amount_match.group(2)) if amount_match else None
    unit = _unit(amount_match.group(3) if amount_match else None, default_unit)
    max_per_day = _max_per_day(normal, amount, unit, default_unit)
    return DoseSummary(DoseKind.AS_NEEDED, unit, amount=amount, max_per_day=max_per_day)


def _max_per_day(
    normal: str, amount: Decimal | None, unit: str | None, default_unit: str | None
) -> Decimal | None:
    times = _TIMES_A_DAY_MAX.search(normal)
    if times and amount is not None:
        count = _decimal(times.group(1))
        return None if count is None else amount * count
    limit = _MAX_PER_DAY.search(normal)
    if limit is None:
        return None
    limit_unit = _unit(limit.group(2), None)
    if limit_unit is not None and unit is not None and limit_unit != unit:
        return None  # "1 tablett ved behov, maks 4 g per døgn": a different unit, not comparable
    return _decimal(limit.group(1))


# -- regular and interval doses -----------------------------------------------------------------------


def _regular(normal: str, default_unit: str | None) -> DoseSummary | None:
    for reader in (_plus_form, _times_form, _interval_form, _slot_form):
        summary = reader(normal, default_unit)
        if summary is not None:
            return summary
    return None


# Each dose pattern's match() is tried only when the text has a literal the pattern cannot match without: the
# unit alternation in the patterns makes a failing match() cost microseconds, a substring test nanoseconds.


def _plus(normal: str) -> re.Match[str] | None:
    return _PLUS.match(normal) if "+" in normal else None


def _times_x(normal: str) -> re.Match[str] | None:
    return _TIMES_X.match(normal) if "x" in normal or "×" in normal else None


def _times_words(normal: str) -> re.Match[str] | None:
    return _TIMES_WORDS.match(normal) if "gang" in normal else None


def _once_daily(normal: str) -> re.Match[str] | None:
    return _ONCE_DAILY.match(normal) if "dag" in normal or "dgl" in normal or "x" in normal else None


def _interval(normal: str) -> re.Match[str] | None:
    return _INTERVAL.match(normal) if "hver" in normal else None


def _every_other_day(normal: str) -> re.Match[str] | None:
    return _EVERY_OTHER_DAY.match(normal) if "annen" in normal else None


def _weekly(normal: str) -> re.Match[str] | None:
    return _WEEKLY.match(normal) if "uk" in normal else None


def _plus_form(normal: str, default_unit: str | None) -> DoseSummary | None:
    match = _plus(normal)
    if match is None or normal[match.end() :].strip(" .,") not in ("", "daglig"):
        return None
    times = _SLOT_ORDER if match.group(4) is not None else _SLOT_ORDER[:3]
    amounts = [Decimal(match.group(n)) for n in range(1, len(times) + 1)]
    slots = tuple((t, a) for t, a in zip(times, amounts, strict=True) if a > 0)
    return _scheduled(slots, _unit(match.group(5), default_unit))


def _scheduled(slots: tuple[tuple[TimeOfDay, Decimal], ...], unit: str | None) -> DoseSummary | None:
    if not slots:
        return None
    return DoseSummary(
        DoseKind.REGULAR,
        unit,
        amount=max(a for _t, a in slots),
        per_day=sum((a for _t, a in slots), Decimal(0)),
        times_per_day=len(slots),
        slots=slots,
    )


def _times_form(normal: str, default_unit: str | None) -> DoseSummary | None:
    for matcher in (_times_x, _times_words):
        match = matcher(normal)
        if match and _only_filler_after(normal, match.end()):
            amount, count = _decimal(match.group(1)), _decimal(match.group(3))
            if amount is None or count is None or count != int(count):
                return None
            return DoseSummary(
                DoseKind.REGULAR,
                _unit(match.group(2), default_unit),
                amount=amount,
                per_day=amount * count,
                times_per_day=int(count),
            )
    match = _once_daily(normal)
    if match and (amount := _decimal(match.group(1))) is not None:
        return DoseSummary(
            DoseKind.REGULAR,
            _unit(match.group(2), default_unit),
            amount=amount,
            per_day=amount,
            times_per_day=1,
        )
    return None


def _only_filler_after(normal: str, end: int) -> bool:
    rest = normal[end:].strip(" .,")
    return rest in ("", "daglig", "dgl", "per dag", "pr dag", "om dagen", "i døgnet", "per døgn")


def _interval_form(normal: str, default_unit: str | None) -> DoseSummary | None:
    every: tuple[int, str] | None = None
    match = _interval(normal)
    if match:
        number = int(match.group(3)) if match.group(3) else 1
        period = {"time": "hour", "timer": "hour", "dag": "day", "døgn": "day", "uke": "week"}[match.group(4)]
        every, amount_text, unit_text = (number, period), match.group(1), match.group(2)
    elif match := _every_other_day(normal):
        every, amount_text, unit_text = (2, "day"), match.group(1), match.group(2)
    elif match := _weekly(normal):
        every, amount_text, unit_text = (1, "week"), match.group(1), match.group(2)
    if every is None or match is None or not _only_filler_after(normal, match.end()):
        return None
    amount = _decimal(amount_text) if amount_text else Decimal(1)
    return DoseSummary(DoseKind.INTERVAL, _unit(unit_text, default_unit), amount=amount, every=every)


def _slot_form(normal: str, default_unit: str | None) -> DoseSummary | None:
    """ "2 tabletter morgen", "1 morgen og 1 kveld", "1 tablett morgen og kveld", "1 tbl til natten"."""
    slots: dict[TimeOfDay, Decimal] = {}
    amount: Decimal | None = None
    unit: str | None = None
    for number, unit_word, word in _SLOT_TOKENS.findall(normal.replace("(", " ").replace(")", " ")):
        if number:
            amount = _decimal(number)
        elif unit_word:
            unit = _unit(unit_word, None) if unit is None else unit
        elif word in _TIMES and amount is not None and _TIMES[word] not in slots:
            slots[_TIMES[word]] = amount
        elif word not in _SLOT_FILLER and word not in _TIMES:
            return None  # a word we do not understand: do not guess
    ordered = tuple((t, slots[t]) for t in _SLOT_ORDER if t in slots)
    return _scheduled(ordered, unit or default_unit)


# -- structured dosage --------------------------------------------------------------------------------


def _dosage(summary: DoseSummary) -> Dosage | None:
    """A `Dosage` only when the text says it exactly and names (or implies) its unit."""
    if summary.unit is None or summary.amount is None:
        return None
    try:
        if summary.kind is DoseKind.AS_NEEDED:
            return Dosage(
                unit=summary.unit,
                as_needed=AsNeededDose(amount=summary.amount, max_per_day=summary.max_per_day),
            )
        if summary.kind is DoseKind.INTERVAL and summary.every:
            every, period = summary.every
            return Dosage(
                unit=summary.unit,
                interval=IntervalDose(
                    every=every,
                    period=period,
                    amount=summary.amount,
                ),
            )
        if summary.slots:  # validated in one call, nested doses too (a third less than one call each)
            schedule = [{"time_of_day": t, "amount": a} for t, a in summary.slots]
            return Dosage.model_validate({"unit": summary.unit, "schedule": schedule})
    except ValidationError:
        return None
    return None


# -- comparison ---------------------------------------------------------------------------------------

_MASS_TO_MG = {"mg": Decimal(1), "g": Decimal(1000), "mikrog": Decimal("0.001")}
_COUNT_UNITS = frozenset({"tablett", "kapsel", "stikkpille", "dosepose", "plaster"})
_HOURS = {"hour": 1, "day": 24, "week": 168}


def _units_agree(first: str | None, second: str | None) -> bool:
    """The same unit, or one left out beside a countable one ("1+0+1" beside "1 tablett morgen og kveld").
    A left-out unit beside a mass ("1 x 2" beside "10 mg x 2") is not known to agree: it is converted."""
    if first == second:
        return True
    other = second if first is None else first if second is None else None
    return other is not None and other in _COUNT_UNITS | {"kapsel", "dose", "dråpe", "enhet", "ml"}


def _scaled(summary: DoseSummary, factor: Decimal, unit: str) -> DoseSummary:
    def times(value: Decimal | None) -> Decimal | None:
        return None if value is None else (value * factor).normalize()

    return DoseSummary(
        summary.kind,
        unit,
        times(summary.amount),
        times(summary.per_day),
        summary.times_per_day,
        tuple((t, (a * factor).normalize()) for t, a in summary.slots),
        summary.every,
        times(summary.max_per_day),
    )


def in_milligrams(summary: DoseSummary, strength: Strength | None) -> DoseSummary | None:
    """The dose as mg of substance: a mass unit converts directly; tablets and the like need the strength of
    one unit ("2 tabletter" of 500 mg is 1000 mg). None when it cannot be converted."""
    unit = summary.unit or ""
    if unit in _MASS_TO_MG:
        return _scaled(summary, _MASS_TO_MG[unit], "mg")
    countable = unit in _COUNT_UNITS or not unit
    if countable and strength is not None and strength.per_unit is None and strength.unit == "mg":
        return _scaled(summary, strength.value, "mg")
    return None


def _in_hours(every: tuple[int, str] | None) -> int | None:
    return None if every is None else every[0] * _HOURS.get(every[1], 0)


def same_regimen(
    first: DoseReading,
    second: DoseReading,
    *,
    strengths: tuple[Strength | None, Strength | None] = (None, None),
) -> bool | None:
    """True when both give the same dose, False when they differ, None when we cannot tell. `strengths` (one
    unit of each side's product) lets "1 g x 4" be compared with "2 tabletter x 4" of 500 mg tablets."""
    if first.by_chart or second.by_chart:
        return (first.by_chart and second.by_chart) or None
    a, b = first.summary, second.summary
    if a is None or b is None:
        if first.text and second.text and _normalised(first.text) == _normalised(second.text):
            return True
        return None
    if a.kind is not b.kind:
        return False
    if not _units_agree(a.unit, b.unit):
        first_mg, second_mg = in_milligrams(a, strengths[0]), in_milligrams(b, strengths[1])
        if first_mg is None or second_mg is None:
            return None
        a, b = first_mg, second_mg
    if a.kind is DoseKind.AS_NEEDED:
        return a.amount == b.amount and (
            a.max_per_day == b.max_per_day or None in (a.max_per_day, b.max_per_day)
        )
    if a.kind is DoseKind.INTERVAL:
        return _in_hours(a.every) == _in_hours(b.every) and a.amount == b.amount
    if a.per_day != b.per_day or a.times_per_day != b.times_per_day:
        return False
    return a.slots == b.slots if a.slots and b.slots else True


def summary_of_dosage(dosage: Dosage) -> DoseSummary | None:
    """The comparable summary of a structured dosage already on the list (None for mixed regimens)."""
    kinds = sum(1 for part in (dosage.schedule, dosage.interval, dosage.as_needed) if part)
    if kinds != 1:
        return None
    if dosage.as_needed is not None:
        needed = dosage.as_needed
        return DoseSummary(
            DoseKind.AS_NEEDED, dosage.unit, amount=needed.amount, max_per_day=needed.max_per_day
        )
    if dosage.interval is not None:
        interval = dosage.interval
        return DoseSummary(
            DoseKind.INTERVAL, dosage.unit, amount=interval.amount, every=(interval.every, interval.period)
        )
    named = tuple((d.time_of_day, d.amount) for d in dosage.schedule if d.time_of_day is not None)
    if len(named) == len(dosage.schedule):
        ordered = tuple(sorted(named, key=lambda slot: _SLOT_ORDER.index(slot[0])))
        return _scheduled(ordered, dosage.unit)
    amounts = [d.amount for d in dosage.schedule]
    return DoseSummary(
        DoseKind.REGULAR,
        dosage.unit,
        amount=max(amounts),
        per_day=sum(amounts, Decimal(0)),
        times_per_day=len(amounts),
    )


def read_entry_dose(
    text: str | None, dosage: Dosage | None, *, default_unit: str | None = None
) -> DoseReading:
    """A list entry's dose: its text when we can read it, else its structured dosage."""
    reading = read_dose_text(text, default_unit=default_unit)
    if reading.understood or reading.by_chart or dosage is None:
        return reading
    return DoseReading(text=text, summary=summary_of_dosage(dosage), stored_dosage=dosage)
