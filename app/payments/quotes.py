"""Quotes: a fiat price turned into an exact coin amount at a locked, auditable rate.

coin = fiat / rate * (1 + spread), rounded UP to the coin's display precision (the shopper never
pays less than the price), in integers only. The rate, its source and fetch time, the spread and
the quote's expiry are stored on the deposit, so every deposit can be shown to an auditor.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.arrays import among
from app.config import Settings
from app.db import utcnow
from app.errors import (
    AmountNotPositive,
    CurrencyNoLongerPriced,
    CurrencyNotConfigured,
    InvalidCurrency,
    InvalidFiatAmount,
    NoRate,
)
from app.money import Amount, format_base_units
from app.orders.models import OrderStatus
from app.orders.rows import OrderView
from app.payments.models import Deposit, DepositStatus
from app.payments.rows import DepositView
from app.rates.book import NoFreshRate, RateBook
from app.rates.currencies import CurrencyError, check_fiat_amount, minor_units, normalize_currency
from app.rates.sources import Pair

QUOTED_DISPLAY_DECIMALS = 2
COIN_DISPLAY_DECIMALS: dict[str, int] = {"USDT": 2, "USDC": 2, "DAI": 2}
"""Digits a quoted amount is rounded up to before the uniqueness step is added (cents)."""


def _ratio(value: Decimal) -> tuple[int, int]:
    numerator, denominator = value.as_integer_ratio()
    return numerator, denominator


def coin_base_units(
    fiat: Amount,
    rate: Decimal,
    spread_percent: Decimal,
    *,
    display_decimals: int,
    token_decimals: int,
) -> int:
    """fiat / rate * (1 + spread/100), rounded up to `display_decimals`, in token base units.

    Exact: every term is an integer ratio, and the only rounding is the final ceiling.
    """
    if rate <= 0:
        raise ValueError("rate must be > 0")
    if spread_percent < 0:
        raise ValueError("spread must be >= 0")
    places = min(display_decimals, token_decimals)
    rate_num, rate_den = _ratio(rate)
    spread_num, spread_den = _ratio(spread_percent)
    numerator = fiat.units * rate_den * (100 * spread_den + spread_num) * 10**places
    denominator = 10**fiat.scale * rate_num * 100 * spread_den
    display_units = -(-numerator // denominator)
    return int(display_units * 10 ** (token_decimals - places))


def fiat_at_minor_units(amount: Amount, currency: str) -> Amount:
    """The amount written with exactly the currency's minor unit digits ("10" EUR → "10.00")."""
    digits = minor_units(currency)
    if amount.scale <= digits:
        return Amount(amount.units * 10 ** (digits - amount.scale), digits)
    factor = 10 ** (amount.scale - digits)
    if amount.units % factor:
        raise ValueError(f"{amount} is finer than {currency} allows")
    return Amount(amount.units // factor, digits)


@dataclass(frozen=True, slots=True)
class Quote:
    currency: str
    fiat_amount: Amount
    rate: Decimal
    source: str
    fetched_at: dt.datetime
    expires_at: dt.datetime
    spread_percent: Decimal
    base_units: int
    """The coin amount before the uniqueness step."""


def make_quote(
    order: OrderView, coin: str, token_decimals: int, book: RateBook | None, now: dt.datetime
) -> Quote:
    """Quote a fiat order for `coin` now, or 503 when no fresh rate exists for the pair."""
    currency = order.currency
    assert currency is not None
    if book is None or not book.supports(currency):
        raise CurrencyNoLongerPriced(currency)
    pair = Pair(coin, currency)
    try:
        rate = book.rate(pair)
    except NoFreshRate as exc:
        raise NoRate(str(exc.pair)) from None
    spread = book.config.spread_percent
    units = coin_base_units(
        order.amount,
        rate.value,
        spread,
        display_decimals=COIN_DISPLAY_DECIMALS.get(coin, token_decimals),
        token_decimals=token_decimals,
    )
    return Quote(
        currency=currency,
        fiat_amount=fiat_at_minor_units(order.amount, currency),
        rate=rate.value,
        source=rate.source,
        fetched_at=dt.datetime.fromtimestamp(rate.fetched_at, dt.UTC),
        expires_at=now + dt.timedelta(seconds=book.config.quote_ttl_seconds),
        spread_percent=spread,
        base_units=units,
    )


def stamp(deposit: Deposit, quote: Quote) -> None:
    """Lock the quote onto the deposit (the audit trail)."""
    deposit.quote_currency = quote.currency
    deposit.quote_fiat_units = quote.fiat_amount.units
    deposit.quote_fiat_scale = quote.fiat_amount.scale
    deposit.quote_rate = format(quote.rate, "f")
    deposit.quote_source = quote.source
    deposit.quote_fetched_at = quote.fetched_at
    deposit.quote_expires_at = quote.expires_at
    deposit.quote_spread_percent = format(quote.spread_percent, "f")


QUOTE_COLUMNS = (
    "quote_currency",
    "quote_fiat_units",
    "quote_fiat_scale",
    "quote_rate",
    "quote_source",
    "quote_fetched_at",
    "quote_expires_at",
    "quote_spread_percent",
)


def copy_quote(source: DepositView, target: Deposit) -> None:
    """The same locked quote on another deposit (a remainder keeps the rate it started with)."""
    for column in QUOTE_COLUMNS:
        setattr(target, column, getattr(source, column))


def quote_expired(deposit: Deposit, now: dt.datetime) -> bool:
    return deposit.quote_expires_at is not None and deposit.quote_expires_at <= now


def quote_view(deposit: Deposit | None) -> dict[str, Any] | None:
    """The wire `quote`: {currency, fiat_amount, rate, source, fetched_at, expires_at}."""
    if deposit is None or deposit.quote_currency is None:
        return None
    assert deposit.quote_fetched_at is not None and deposit.quote_expires_at is not None
    return {
        "currency": deposit.quote_currency,
        "fiat_amount": str(Amount(deposit.quote_fiat_units or 0, deposit.quote_fiat_scale or 0)),
        "rate": deposit.quote_rate,
        "source": deposit.quote_source,
        "fetched_at": int(deposit.quote_fetched_at.timestamp()),
        "expires_at": int(deposit.quote_expires_at.timestamp()),
    }


def base_units_for(
    order: OrderView, coin: str, token_decimals: int, book: RateBook | None
) -> tuple[int, Quote | None]:
    """What `_reserve` starts from: the order's own coin amount, or a fresh quote's."""
    if order.currency is None:
        return order.amount.to_base_units(token_decimals), None
    quote = make_quote(order, coin, token_decimals, book, utcnow())
    return quote.base_units, quote


def positive_amount(text: str) -> Amount:
    """A create request's `amount`, refused unless it is above zero."""
    if text.startswith("-"):
        raise AmountNotPositive
    amount = Amount.parse(text)
    if amount.units == 0:
        raise AmountNotPositive
    return amount


def fiat_price(amount_text: str, currency: str, settings: Settings) -> tuple[Amount, str]:
    """A create request's fiat `amount` and normalized `currency`, or a 400 naming the field."""
    try:
        code = normalize_currency(currency)
    except CurrencyError as exc:
        raise InvalidCurrency(str(exc)) from None
    if settings.rates is None or code not in settings.rates.fiat_currencies:
        configured = ", ".join(settings.rates.fiat_currencies) if settings.rates else "none"
        raise CurrencyNotConfigured(code, configured)
    amount = positive_amount(amount_text)
    try:
        check_fiat_amount(amount, code)
    except CurrencyError as exc:
        raise InvalidFiatAmount(str(exc)) from None
    return amount, code


async def current_deposit(session: AsyncSession, order: OrderView) -> Deposit | None:
    """The deposit an order is paid (or being paid) through: while it is pending the newest one
    still offered (a partly paid order's remainder), else the newest matched; else the newest."""
    return (await current_deposits(session, [order])).get(order.id)


async def current_deposits(
    session: AsyncSession, orders: Sequence[OrderView]
) -> dict[uuid.UUID, Deposit]:
    """`current_deposit` of each order that has one, in one statement: a batch of payments
    settled together builds its webhooks and pushes without a query per order."""
    if not orders:
        return {}
    ids = list({order.id for order in orders})
    by_order: dict[uuid.UUID, list[Deposit]] = {}
    for deposit in await session.scalars(
        sa.select(Deposit).where(among(session, Deposit.order_id, "uuid", ids))
    ):
        by_order.setdefault(deposit.order_id, []).append(deposit)
    chosen: dict[uuid.UUID, Deposit] = {}
    for order in orders:
        candidates = by_order.get(order.id)
        if candidates:
            first = (
                DepositStatus.ACTIVE
                if order.status == OrderStatus.PENDING
                else DepositStatus.MATCHED
            )
            chosen[order.id] = max(candidates, key=lambda d: (d.status == first, d.id))
    return chosen


def _wants_payment(order: OrderView) -> bool:
    """A fiat order, or a partly paid one: its `payment` is shown."""
    partly_paid = order.status == OrderStatus.PENDING and bool(order.amount_received)
    return order.currency is not None or partly_paid


def _payment(deposit: Deposit) -> dict[str, Any]:
    return {
        "payment": {
            "blockchain": deposit.blockchain,
            "stablecoin": deposit.token,
            "wallet_address": deposit.wallet_address,
            "amount": format_base_units(deposit.amount, deposit.decimals),
            "amount_base_units": str(deposit.amount),
            "status": deposit.status,
            "quote": quote_view(deposit),
        }
    }


async def payment_fields(session: AsyncSession, order: OrderView) -> dict[str, Any]:
    """Additive order fields: `payment`, the deposit to pay now, for a fiat order (with its
    locked `quote`) and for a partly paid one (the remainder, so a page can ask for the rest)."""
    return (await payment_fields_of(session, [order])).get(order.id, {})


async def payment_fields_of(
    session: AsyncSession, orders: Sequence[OrderView]
) -> dict[uuid.UUID, dict[str, Any]]:
    """`payment_fields` of each order that has them, in one statement."""
    deposits = await current_deposits(session, [o for o in orders if _wants_payment(o)])
    return {order_id: _payment(deposit) for order_id, deposit in deposits.items()}


async def webhook_fiat_fields(session: AsyncSession, order: OrderView) -> dict[str, object]:
    """What `order_status_changed` adds for a fiat order: `currency` and the `quote` that was
    priced (whose `fiat_amount` is the order's price); nothing for coin orders (Ocrch's bytes)."""
    return (await webhook_fiat_fields_of(session, [order])).get(order.id, {})


async def webhook_fiat_fields_of(
    session: AsyncSession, orders: Sequence[OrderView]
) -> dict[uuid.UUID, dict[str, object]]:
    """`webhook_fiat_fields` of each fiat order among `orders`, in one statement."""
    fiat = [order for order in orders if order.currency is not None]
    deposits = await current_deposits(session, fiat)
    return {
        order.id: {"currency": order.currency, "quote": quote_view(deposits.get(order.id))}
        for order in fiat
    }


async def lapse_superseded_quotes(session: AsyncSession, grace_seconds: int) -> int:
    """Stop honouring re-quoted amounts `grace_seconds` after their quote expired.

    A re-quote leaves the old deposit active, so a transfer of the old amount sent in good faith
    still pays the order; once the grace has passed, the old deposit lingers like an ended one
    (still reserved, so a late transfer is linked to this order and listed, never credited to
    another). Only deposits with a newer active deposit for the same chain and coin are touched.
    """
    newer = aliased(Deposit)
    superseded = (
        sa.select(newer.id)
        .where(
            newer.order_id == Deposit.order_id,
            newer.blockchain == Deposit.blockchain,
            newer.token == Deposit.token,
            newer.status == DepositStatus.ACTIVE,
            newer.id > Deposit.id,
        )
        .exists()
    )
    result = await session.execute(
        sa.update(Deposit)
        .where(
            Deposit.status == DepositStatus.ACTIVE,
            Deposit.quote_expires_at <= utcnow() - dt.timedelta(seconds=grace_seconds),
            superseded,
        )
        .values(status=DepositStatus.LINGERING)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def quoted_deposits(session: AsyncSession, ids: list[int]) -> dict[int, Deposit]:
    """Deposits by id that carry a quote (admin listings show fiat beside coin amounts)."""
    if not ids:
        return {}
    rows = await session.scalars(
        sa.select(Deposit).where(Deposit.id.in_(ids), Deposit.quote_currency.is_not(None))
    )
    return {deposit.id: deposit for deposit in rows}


def add_fiat(totals: dict[str, Amount], currency: str, amount: Amount) -> None:
    """Add a price to per-currency totals, exactly (same scale per currency: its minor unit)."""
    current = totals.get(currency)
    if current is None:
        totals[currency] = amount
        return
    scale = max(current.scale, amount.scale)
    totals[currency] = Amount(
        current.units * 10 ** (scale - current.scale) + amount.units * 10 ** (scale - amount.scale),
        scale,
    )
