import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pml.national_id import IdKind, InvalidNationalId, make_national_id, parse_national_id

birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2039, 12, 31))
kinds = st.sampled_from(list(IdKind))


@given(birth_dates, kinds)
def test_a_made_number_parses_back_to_its_kind_and_birth_date(birth: dt.date, kind: IdKind) -> None:
    parsed = parse_national_id(make_national_id(birth, kind=kind), allow_synthetic=True)
    assert (parsed.kind, parsed.birth_date) == (kind, birth)


@given(birth_dates, st.integers(0, 10), st.integers(1, 9))
def test_any_single_digit_change_is_refused(birth: dt.date, position: int, delta: int) -> None:
    number = make_national_id(birth, kind=IdKind.FODSELSNUMMER)
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    with pytest.raises(InvalidNationalId):
        parse_national_id(changed, allow_synthetic=True)


def test_a_known_fodselsnummer_is_accepted() -> None:
    # 01.01.1900, individual 001: check digits worked by hand with the published weights.
    parsed = parse_national_id("01010000110", allow_synthetic=False)
    assert parsed.kind is IdKind.FODSELSNUMMER
    assert parsed.birth_date == dt.date(1900, 1, 1)


def test_d_and_h_numbers_carry_their_offsets() -> None:
    birth = dt.date(1985, 6, 15)
    d_number = make_national_id(birth, kind=IdKind.D_NUMBER)
    h_number = make_national_id(birth, kind=IdKind.H_NUMBER)
    assert d_number[:2] == "55"
    assert h_number[2:4] == "46"
    assert parse_national_id(d_number, allow_synthetic=False).kind is IdKind.D_NUMBER
    assert parse_national_id(h_number, allow_synthetic=False).kind is IdKind.H_NUMBER


def test_synthetic_numbers_are_refused_where_not_allowed() -> None:
    number = make_national_id(dt.date(1970, 3, 3), kind=IdKind.SYNTHETIC)
    with pytest.raises(InvalidNationalId, match="synthetic"):
        parse_national_id(number, allow_synthetic=False)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1234567890", "11 digits"),
        ("123456789012", "11 digits"),
        ("0101000018a", "11 digits"),
        ("٠١٠١٠٠٠٠١٨١", "11 digits"),  # Arabic-Indic digits are digits to Python, not to us
        ("01010000111", "second check digit"),
        ("01010000120", "first check digit"),
    ],
)
def test_malformed_numbers_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId, match=reason):
        parse_national_id(text, allow_synthetic=True)


def test_a_date_that_does_not_exist_is_refused() -> None:
    # 30 February 1985, individual 100, with correct check digits.
    with pytest.raises(InvalidNationalId, match="does not exist"):
        parse_national_id("30028510086", allow_synthetic=True)
