"""Norwegian national identity numbers: fødselsnummer, D-number, H-number and synthetic test numbers.

Both mod-11 check digits are verified and the embedded birth date must exist. Synthetic numbers (month + 80,
as in the national test data set Tenor) are only accepted where the caller allows them: never in production.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from enum import StrEnum

_FIRST_CHECK_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_SECOND_CHECK_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


class IdKind(StrEnum):
    FODSELSNUMMER = "fodselsnummer"
    D_NUMBER = "d_number"
    H_NUMBER = "h_number"
    SYNTHETIC = "synthetic"


class InvalidNationalId(ValueError):
    """The text is not a valid national id; the message says why, without echoing the number."""


@dataclass(frozen=True, slots=True)
class NationalId:
    value: str
    kind: IdKind
    birth_date: dt.date

    def __str__(self) -> str:
        return self.value


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    check = (11 - remainder) % 11
    return None if check == 10 else check


def _century(individual: int, year: int) -> int:
    """The birth century from the individual number (Skatteetaten's allocation rules)."""
    if individual < 500:
        return 1900
    if individual < 750 and year >= 54:
        return 1800
    if year < 40:
        return 2000
    if individual >= 900:
        return 1900
    raise InvalidNationalId("individual number does not fit the birth year")


def _kind_and_date_parts(day: int, month: int) -> tuple[IdKind, int, int]:
    if day > 40:
        return IdKind.D_NUMBER, day - 40, month
    if month > 80:
        return IdKind.SYNTHETIC, day, month - 80
    if month > 40:
        return IdKind.H_NUMBER, day, month - 40
    return IdKind.FODSELSNUMMER, day, month


def parse_national_id(text: str, *, allow_synthetic: bool) -> NationalId:
    """Validate `text` and tell what kind of number it is; raises InvalidNationalId."""
    if len(text) != 11 or not text.isascii() or not text.isdigit():
        raise InvalidNationalId("a national id has exactly 11 digits")
    if _check_digit(text[:9], _FIRST_CHECK_WEIGHTS) != int(text[9]):
        raise InvalidNationalId("the first check digit is wrong")
    if _check_digit(text[:10], _SECOND_CHECK_WEIGHTS) != int(text[10]):
        raise InvalidNationalId("the second check digit is wrong")
    kind, day, month = _kind_and_date_parts(int(text[0:2]), int(text[2:4]))
    if kind is IdKind.SYNTHETIC and not allow_synthetic:
        raise InvalidNationalId("synthetic test numbers are not accepted here")
    year = _century(int(text[6:9]), int(text[4:6])) + int(text[4:6])
    try:
        birth_date = dt.date(year, month, day)
    except ValueError:
        raise InvalidNationalId("the birth date in the number does not exist") from None
    return NationalId(value=text, kind=kind, birth_date=birth_date)


def make_national_id(
    birth_date: dt.date, *, kind: IdKind = IdKind.SYNTHETIC, rng: random.Random | None = None
) -> str:
    """A valid number of `kind` for `birth_date`, for tests and synthetic demo data."""
    rng = rng or random.Random()  # noqa: S311 - test data, not a secret
    day, month = birth_date.day, birth_date.month
    day += 40 if kind is IdKind.D_NUMBER else 0
    month += {IdKind.H_NUMBER: 40, IdKind.SYNTHETIC: 80}.get(kind, 0)
    individual_range = _individual_range(birth_date.year)
    while True:
        individual = rng.randint(*individual_range)
        base = f"{day:02d}{month:02d}{birth_date.year % 100:02d}{individual:03d}"
        first = _check_digit(base, _FIRST_CHECK_WEIGHTS)
        if first is None:
            continue
        second = _check_digit(base + str(first), _SECOND_CHECK_WEIGHTS)
        if second is not None:
            return f"{base}{first}{second}"


def _individual_range(year: int) -> tuple[int, int]:
    if 1900 <= year <= 1999:
        return (0, 499)
    if 2000 <= year <= 2039:
        return (500, 999)
    if 1854 <= year <= 1899:
        return (500, 749)
    raise ValueError(f"no individual numbers are allocated for {year}")
