"""The quote arithmetic: fiat / rate * (1 + spread), rounded up to cents of the coin, exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.money import Amount
from app.payments.quotes import coin_base_units, fiat_at_minor_units
from app.rates.currencies import CurrencyError, check_fiat_amount, minor_units


def quote(fiat: str, rate: str, spread: str = "0", decimals: int = 6) -> int:
    return coin_base_units(
        Amount.parse(fiat),
        Decimal(rate),
        Decimal(spread),
        display_decimals=2,
        token_decimals=decimals,
    )


def test_rounds_up_to_the_cent() -> None:
    assert quote("10.00", "0.92") == 10_870_000  # 10.869565… → 10.87
    assert quote("9.20", "0.92") == 10_000_000  # exact: no rounding
    assert quote("0.01", "0.92") == 20_000  # 0.01087 → 0.02


def test_spread_is_added_before_rounding() -> None:
    assert quote("10.00", "0.92", "1") == 10_980_000  # 10.97826… → 10.98
    assert quote("100", "1", "0.5") == 100_500_000


def test_zero_and_three_decimal_currencies() -> None:
    assert quote("1500", "149.85") == 10_020_000  # 10.01001 JPY-priced → 10.02
    assert quote("3.075", "0.30745") == 10_010_000  # 10.0016 → 10.01
    assert quote("3.074", "0.30740") == 10_000_000


def test_eighteen_decimal_coin() -> None:
    assert quote("10.00", "0.92", decimals=18) == 10_870_000_000_000_000_000


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        quote("1", "0")
    with pytest.raises(ValueError):
        quote("1", "1", "-1")


@given(
    fiat_units=st.integers(min_value=1, max_value=10**12),
    fiat_scale=st.sampled_from([0, 2, 3]),
    rate=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100000), places=6),
    spread=st.decimals(min_value=Decimal(0), max_value=Decimal(10), places=2),
)
def test_never_less_than_the_price_and_less_than_a_cent_above(
    fiat_units: int, fiat_scale: int, rate: Decimal, spread: Decimal
) -> None:
    fiat = Amount(fiat_units, fiat_scale)
    units = coin_base_units(fiat, rate, spread, display_decimals=2, token_decimals=6)
    assert units % 10_000 == 0
    # Compare exactly in integers: units/1e6 * rate >= fiat * (1 + spread/100)
    r_num, r_den = rate.as_integer_ratio()
    s_num, s_den = spread.as_integer_ratio()
    paid = units * r_num * 10**fiat_scale * 100 * s_den
    owed = fiat_units * 10**6 * r_den * (100 * s_den + s_num)
    assert paid >= owed
    assert (units - 10_000) * r_num * 10**fiat_scale * 100 * s_den < owed


def test_minor_units_and_fiat_amounts() -> None:
    assert (minor_units("eur"), minor_units("JPY"), minor_units("KWD")) == (2, 0, 3)
    assert str(fiat_at_minor_units(Amount.parse("10"), "EUR")) == "10.00"
    assert str(fiat_at_minor_units(Amount.parse("1500.0"), "JPY")) == "1500"
    check_fiat_amount(Amount.parse("1.230"), "EUR")
    for amount, code in (("1.5", "JPY"), ("1.0001", "KWD"), ("1.001", "EUR")):
        with pytest.raises(CurrencyError):
            check_fiat_amount(Amount.parse(amount), code)
    for code in ("XAU", "ABC", "EURO", "€"):
        with pytest.raises(CurrencyError):
            minor_units(code)
