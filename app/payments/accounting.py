"""Coin that arrived, in the order's units, and back: how shortfalls and surpluses are measured.

An order's `amount_received` is kept in its own units at `RECEIVED_DECIMALS`. A coin order's
credit is the transfer's base units rescaled (exact: no stablecoin has more decimals). A fiat
order's credit goes through the locked quote of the deposit the transfer paid: the quote says which
coin amount (before the uniqueness step) stands for the order's whole price, so paying exactly
that amount credits exactly the price, and a part credits its share (rounded down, to 10^-18).

Shortfalls and surpluses are measured against the order's amount, never the deposit's: the
uniqueness step a deposit adds is neither owed nor an overpayment.
"""

from __future__ import annotations

from decimal import Decimal

from app.money import Amount, Margin
from app.orders.models import RECEIVED_DECIMALS
from app.orders.receipts import amount_at_received_scale
from app.orders.rows import OrderView
from app.payments.quotes import COIN_DISPLAY_DECIMALS, coin_base_units
from app.payments.rows import DepositView


def price_in_coin(order: OrderView, deposit: DepositView) -> int:
    """The order's whole amount in the deposit's coin (base units, before any uniqueness step)."""
    if order.currency is None or deposit.quote_rate is None:
        return order.amount.to_base_units(deposit.decimals)
    return coin_base_units(
        Amount(deposit.quote_fiat_units or 0, deposit.quote_fiat_scale or 0),
        Decimal(deposit.quote_rate),
        Decimal(deposit.quote_spread_percent or "0"),
        display_decimals=COIN_DISPLAY_DECIMALS.get(deposit.token, deposit.decimals),
        token_decimals=deposit.decimals,
    )


def credit(order: OrderView, deposit: DepositView, base_units: int) -> int:
    """`base_units` of the deposit's coin in the order's received units (rounded down)."""
    if order.currency is None or deposit.quote_rate is None:
        return int(base_units * 10 ** (RECEIVED_DECIMALS - deposit.decimals))
    price = price_in_coin(order, deposit)
    return int(base_units * amount_at_received_scale(order.amount) // max(price, 1))


def coin_for(order: OrderView, deposit: DepositView, units: int, *, round_up: bool) -> int:
    """Order units (received scale) in base units of the deposit's coin."""
    if order.currency is None or deposit.quote_rate is None:
        numerator, denominator = units, 10 ** (RECEIVED_DECIMALS - deposit.decimals)
    else:
        numerator = units * price_in_coin(order, deposit)
        denominator = max(amount_at_received_scale(order.amount), 1)
    return int(-(-numerator // denominator) if round_up else numerator // denominator)


def tolerance(order: OrderView, deposit: DepositView, margin: Margin) -> int:
    """The underpayment tolerance in order units (received scale): a percentage of the order's
    amount, or a coin amount converted like a credit."""
    if margin.percent:
        return margin.allowance(amount_at_received_scale(order.amount), RECEIVED_DECIMALS)
    return credit(order, deposit, margin.allowance(0, deposit.decimals))


def rounding_unit(order: OrderView, deposit: DepositView) -> int:
    """The coin's display unit a fiat quote rounds up to (base units); 0 for a coin order."""
    if order.currency is None or deposit.quote_rate is None:
        return 0
    places = min(COIN_DISPLAY_DECIMALS.get(deposit.token, deposit.decimals), deposit.decimals)
    return int(10 ** (deposit.decimals - places))


def remainder_in_coin(order: OrderView, deposit: DepositView, due: int) -> int:
    """What a remainder deposit asks for `due` (order units): exact for a coin order; for a fiat
    order, the nearest base unit (credits were rounded down, so `due` may exceed the truth by a
    few 10^-18; a shortfall under one base unit is none) rounded up to the coin's display
    precision, like every quote."""
    if order.currency is None or deposit.quote_rate is None:
        return max(coin_for(order, deposit, due, round_up=True), 1)
    numerator = due * price_in_coin(order, deposit)
    denominator = max(amount_at_received_scale(order.amount), 1)
    units = (2 * numerator + denominator) // (2 * denominator)
    places = min(COIN_DISPLAY_DECIMALS.get(deposit.token, deposit.decimals), deposit.decimals)
    step = 10 ** (deposit.decimals - places)
    return int(max(-(-units // step) * step, step))
