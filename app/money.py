"""Money at the edges: decimal strings on the wire, integers inside, never floats.

An amount is kept as an integer count of units at a known scale (fractional digits). Order amounts
keep the scale the merchant wrote ("20.00" stays "20.00", api.md §0); token amounts use the token's
decimals as their scale, so they are plain base units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_FRACTION_DIGITS = 28
MAX_INTEGER_DIGITS = 40
"""Far above any configurable order bound; stops a 10^6-digit string before `int()` runs."""
_DECIMAL_TEXT = re.compile(r"(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?")
"""ASCII digits, whole text (`\\d` takes fullwidth and Arabic digits, `$` a final newline)."""


class AmountError(ValueError):
    """An amount that cannot be taken as money."""


def is_formattable(value: Decimal) -> bool:
    """Whether `format(value, "f")` stays short: `1e999999999` would take seconds and gigabytes."""
    return value.is_finite() and -MAX_FRACTION_DIGITS - 1 <= value.adjusted() < MAX_INTEGER_DIGITS


@dataclass(frozen=True, slots=True)
class Amount:
    """`units / 10**scale`, exactly."""

    units: int
    scale: int

    @classmethod
    def parse(cls, value: str | int | Decimal) -> Amount:
        """Parse a wire amount: a plain decimal string, or a JSON number taken through its text."""
        text = str(value).strip() if not isinstance(value, str) else value
        match = _DECIMAL_TEXT.fullmatch(text)
        if match is None:
            if isinstance(value, Decimal) and is_formattable(value) and value >= 0:
                return cls.parse(format(value, "f"))
            raise AmountError(f"not a plain non-negative decimal: {text!r}")
        frac = match.group("frac") or ""
        if len(match.group("int").lstrip("0")) > MAX_INTEGER_DIGITS:
            raise AmountError(f"more than {MAX_INTEGER_DIGITS} integer digits")
        if len(frac) > MAX_FRACTION_DIGITS:
            raise AmountError(f"more than {MAX_FRACTION_DIGITS} fractional digits")
        return cls(int(match.group("int") + frac), len(frac))

    def __str__(self) -> str:
        if self.scale == 0:
            return str(self.units)
        digits = str(self.units).rjust(self.scale + 1, "0")
        return f"{digits[: -self.scale]}.{digits[-self.scale :]}"

    def to_decimal(self) -> Decimal:
        # Built from the text: Decimal arithmetic would round past its 28-digit context.
        return Decimal(str(self))

    def to_base_units(self, decimals: int) -> int:
        """Express in a token's base units; refuses amounts finer than the token can carry."""
        if self.scale <= decimals:
            return self.units * int(10 ** (decimals - self.scale))
        factor = int(10 ** (self.scale - decimals))
        if self.units % factor:
            raise AmountError(f"more precise than {decimals} decimals")
        return int(self.units // factor)

    @property
    def significant_scale(self) -> int:
        """Fractional digits once trailing zeros are dropped ("20.10" -> 1)."""
        units, scale = self.units, self.scale
        while scale and units % 10 == 0:
            units //= 10
            scale -= 1
        return scale


def format_base_units(units: int, decimals: int) -> str:
    """Base units as a decimal string with every digit the token has ("1.500000" for 6 decimals)."""
    return str(Amount(units, decimals))


def parse_base_units(value: str | Decimal, decimals: int) -> int:
    """A decimal coin amount to base units, refusing anything finer than the token allows."""
    try:
        return Amount.parse(value).to_base_units(decimals)
    except (InvalidOperation, AmountError) as exc:
        raise AmountError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Margin:
    """How far an amount may be from another: a percentage of the reference ("2%") or an absolute
    coin amount ("1.5"). Written as a string in the config, parsed exactly (never a float)."""

    value: Decimal
    percent: bool

    @classmethod
    def parse(cls, text: object) -> Margin:
        if isinstance(text, Margin):
            return text
        if not isinstance(text, str):
            raise AmountError(
                f'write it as a string ("2%" or "1.5"), not {type(text).__name__} {text!r}'
            )
        raw = text.strip()
        percent = raw.endswith("%")
        number = raw[:-1].strip() if percent else raw
        try:
            amount = Amount.parse(number)
        except AmountError:
            raise AmountError(
                f'{text!r} is neither a percentage ("2%") nor a plain coin amount ("1.5")'
            ) from None
        value = amount.to_decimal()
        if percent and value >= 100:
            raise AmountError(f"{text!r}: a percentage must be below 100%")
        return cls(value, percent)

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)

    def allowance(self, reference: int, decimals: int) -> int:
        """The margin in base units around `reference` (base units of a `decimals` token),
        rounded down: the edge itself is inside."""
        numerator, denominator = self.value.as_integer_ratio()
        if self.percent:
            return int(reference * numerator // (denominator * 100))
        return int(numerator * 10**decimals // denominator)
