from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.money import (
    MAX_INTEGER_DIGITS,
    Amount,
    AmountError,
    format_base_units,
    parse_base_units,
)


@pytest.mark.parametrize("text", ["19.99", "20.00", "0.000001", "1000000", "0.1000"])
def test_parse_keeps_text_and_scale(text: str) -> None:
    assert str(Amount.parse(text)) == text


def test_json_numbers_go_through_their_text() -> None:
    assert str(Amount.parse(Decimal("19.99"))) == "19.99"
    assert str(Amount.parse(Decimal("1E+2"))) == "100"
    assert str(Amount.parse(7)) == "7"


@pytest.mark.parametrize(
    "bad", ["", "-1", "1e5", "1.", ".5", "1,5", "NaN", " 1", "0x10", "1." + "1" * 29]
)
def test_parse_rejects(bad: str) -> None:
    with pytest.raises(AmountError):
        Amount.parse(bad)


def test_base_units_of_one_million_dai() -> None:
    units = parse_base_units("1000000", 18)
    assert units == 10**24
    assert format_base_units(units, 18) == "1000000.000000000000000000"


def test_base_units_refuse_extra_precision() -> None:
    assert Amount.parse("1.50").to_base_units(6) == 1_500_000
    assert Amount.parse("1.1234560").to_base_units(6) == 1_123_456
    with pytest.raises(AmountError):
        Amount.parse("1.1234567").to_base_units(6)


def test_significant_scale() -> None:
    assert Amount.parse("20.10").significant_scale == 1
    assert Amount.parse("20.00").significant_scale == 0


@given(
    st.integers(min_value=0, max_value=10**MAX_INTEGER_DIGITS - 1),
    st.integers(min_value=0, max_value=28),
)
def test_round_trip(units: int, scale: int) -> None:
    """Every amount the wire accepts (at most MAX_INTEGER_DIGITS integer digits) round-trips."""
    amount = Amount(units, scale)
    assert Amount.parse(str(amount)) == amount
    assert amount.to_decimal() == Decimal(str(amount))


@pytest.mark.parametrize(
    "text",
    ["\uff11\uff10", "\u0661\u0660.\u0665", "10\n", "1\u0660", "10.\u0665", "1" * 41],
)
def test_amounts_take_ascii_digits_only(text: str) -> None:
    """Issue 14: `\\d` took fullwidth and Arabic-Indic digits and `$` a final newline."""
    with pytest.raises(AmountError):
        Amount.parse(text)


def test_huge_decimals_are_refused_before_formatting() -> None:
    with pytest.raises(AmountError):
        Amount.parse(Decimal("1e999999999"))
