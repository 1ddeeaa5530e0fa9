"""ISO 4217 currencies and their minor units, from the maintained `iso4217` package.

A fiat amount is validated against its currency's exponent (EUR 2, JPY 0, KWD 3), so a price is
never finer than the currency can express. Funds, metals and test codes (no exponent) are refused.
"""

from __future__ import annotations

from iso4217 import Currency

from app.money import Amount


class CurrencyError(ValueError):
    """A currency code or amount that cannot be priced."""


def minor_units(code: str) -> int:
    """Digits after the decimal point of `code` (ISO 4217 "minor unit"); raises CurrencyError."""
    normalized = code.strip().upper()
    if len(normalized) != 3 or not normalized.isalpha():
        raise CurrencyError(f"{code!r} is not an ISO 4217 currency code (three letters)")
    try:
        currency = Currency(normalized)
    except ValueError:
        raise CurrencyError(f"{code!r} is not an ISO 4217 currency code") from None
    exponent = currency.exponent
    if exponent is None:
        raise CurrencyError(f"{normalized} has no minor unit (a fund, metal or test code)")
    return int(exponent)


def normalize_currency(code: str) -> str:
    """The upper-case code, after checking it is a priceable ISO 4217 currency."""
    minor_units(code)
    return code.strip().upper()


def check_fiat_amount(amount: Amount, code: str) -> None:
    """Refuse an amount finer than the currency's minor unit ("10.001" EUR, "1.5" JPY)."""
    digits = minor_units(code)
    if amount.significant_scale > digits:
        raise CurrencyError(
            f"amount has more than {digits} fractional digits, finer than {code.upper()} allows"
        )
