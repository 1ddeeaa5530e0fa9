"""What Epusdt and Epay share: a "trade" is an ordinary order (`integration` = the dialect) with
its deposit reserved at once, because both protocols answer the create call with the address and
the exact coin amount. Matching, deposits and the lifecycle are the engine's; this module only
maps a dialect's request onto `orders` + `payments.create_payment` and back.

Errors are the domain's (`app.errors`); each dialect codes and words them in its own table.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.answers import Answer, Table
from app.chains import Blockchain, Coin
from app.config import Settings
from app.db import utcnow
from app.errors import (
    AmountNotPositive,
    DuplicateOrder,
    InvalidInput,
    NoRate,
    NoWallet,
    NoWalletConfigured,
    OrderNotFound,
    RatesNotConfigured,
    UnsupportedTradeType,
    UrlNotHttp,
    UrlTooLong,
)
from app.orders.models import Order, OrderStatus
from app.orders.rows import OrderView
from app.orders.service import check_url
from app.payments import service as payments
from app.payments.quotes import current_deposit, fiat_price
from app.payments.schemas import PaymentDetail
from app.rates.book import NoFreshRate, RateBook
from app.rates.sources import Pair
from app.security.signatures import sign_url
from app.sessions.service import public_base
from app.tokens import PaymentOption, find_option, payment_options

ANSWERS: Table = {
    NoWallet: Answer(text="no wallet is configured for {pair}"),
    AmountNotPositive: Answer(text="{param} must be a number greater than 0"),
    UrlTooLong: Answer(text="{param} is too long"),
    UrlNotHttp: Answer(text="{param} must be an absolute http(s) URL"),
}
"""How Epusdt and Epay both word an error unlike `app.answers` (each adds its own table)."""

EPUSDT = "epusdt"
EPAY = "epay"
DEFAULT_TIMEOUT = 1200
MIN_TIMEOUT, MAX_TIMEOUT = 180, 3600
MAX_ORDER_ID = 128

TRADE_TYPES: dict[str, tuple[Blockchain, Coin]] = {
    "usdt.trc20": (Blockchain.TRON, Coin.USDT),
    "usdc.trc20": (Blockchain.TRON, Coin.USDC),
    "usdt.erc20": (Blockchain.ETH, Coin.USDT),
    "usdc.erc20": (Blockchain.ETH, Coin.USDC),
    "usdt.polygon": (Blockchain.POLYGON, Coin.USDT),
    "usdc.polygon": (Blockchain.POLYGON, Coin.USDC),
    "usdt.arbitrum": (Blockchain.ARB, Coin.USDT),
    "usdc.arbitrum": (Blockchain.ARB, Coin.USDC),
    "usdc.base": (Blockchain.BASE, Coin.USDC),
}
"""BEpusdt's trade_type names for the chains we watch (shared/epusdt.md §1.8)."""


def trade_type_name(blockchain: str, coin: str) -> str:
    for name, pair in TRADE_TYPES.items():
        if pair == (blockchain, coin):
            return name
    return f"{coin.lower()}.{blockchain}"


def resolve_trade_type(settings: Settings, name: str | None) -> PaymentOption:
    """The pair a trade_type names; none given: `usdt.trc20` if configured, else the first."""
    if not name:
        options = payment_options(settings)
        if not options:
            raise NoWalletConfigured
        default = find_option(settings, Blockchain.TRON, Coin.USDT)
        return default or options[0]
    pair = TRADE_TYPES.get(name)
    if pair is None:
        raise UnsupportedTradeType(name)
    option = find_option(settings, *pair)
    if option is None:
        raise NoWallet(name)
    return option


def trade_id(order: OrderView) -> str:
    """32 hex characters: free of `%` and `+` (WHMCS URL-decodes its pre-image)."""
    return order.id.hex


def parse_trade_id(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str) or len(value) != 32:
        return None
    try:
        return uuid.UUID(hex=value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class TradeRequest:
    integration: str
    merchant_order_id: str
    amount: str
    """The fiat price as decimal text."""
    fiat: str
    notify_url: str
    return_url: str | None
    option: PaymentOption
    timeout: int
    extra: dict[str, str]
    """What the dialect echoes later (name, submitted type and money, param, trade_type)."""

    def fingerprint(self) -> dict[str, str]:
        return {
            "amount": self.amount,
            "fiat": self.fiat.upper(),
            "notify_url": self.notify_url,
            "return_url": self.return_url or "",
            "pair": f"{self.option.blockchain}/{self.option.coin}",
        }


@dataclass(frozen=True, slots=True)
class Trade:
    order: Order
    payment: PaymentDetail | None
    """The deposit to pay (None once the order is no longer pending)."""


def timeout_of(value: Any) -> int:
    """BE: 180 to 3600 s, anything else the default."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return DEFAULT_TIMEOUT
    try:
        seconds = int(value)
    except ValueError:
        return DEFAULT_TIMEOUT
    return seconds if MIN_TIMEOUT <= seconds <= MAX_TIMEOUT else DEFAULT_TIMEOUT


def dialect_fields(order: OrderView) -> dict[str, str]:
    data = (order.metadata_ or {}).get("dialect")
    return dict(data) if isinstance(data, dict) else {}


async def open_trade(
    session: AsyncSession, settings: Settings, rates: RateBook | None, request: TradeRequest
) -> Trade:
    """Create the order and reserve its deposit; the same order id again: the waiting trade with
    the same parameters or the paid one (BE); waiting with other parameters: a duplicate."""
    if not request.merchant_order_id or len(request.merchant_order_id) > MAX_ORDER_ID:
        raise InvalidInput(f"order id must be 1 to {MAX_ORDER_ID} characters", param="order_id")
    check_url("notify_url", request.notify_url, settings, webhook=True)
    check_url("return_url", request.return_url or None, settings)
    amount, currency = fiat_price(request.amount, request.fiat, settings)
    if rates is None:
        raise RatesNotConfigured
    try:
        rates.rate(Pair(request.option.coin, currency))
    except NoFreshRate as exc:
        raise NoRate(str(exc.pair)) from None
    previous = await session.scalar(
        sa.select(Order)
        .where(
            Order.merchant_order_id == request.merchant_order_id,
            Order.integration == request.integration,
        )
        .order_by(Order.created_at.desc())
        .limit(1)
    )
    if previous is not None:
        if previous.status == OrderStatus.PAID:
            return Trade(previous, None)
        if previous.status == OrderStatus.PENDING:
            if dialect_fields(previous).get("fingerprint") != _fp(request):
                raise DuplicateOrder
            return Trade(previous, await _reserve(session, settings, rates, previous, request))
    now = utcnow()
    order = Order.pending(
        request.merchant_order_id,
        amount,
        now,
        now + dt.timedelta(seconds=request.timeout),
        currency=currency,
        integration=request.integration,
        webhook_url=request.notify_url,
        blockchain=request.option.blockchain,
        stablecoin=request.option.coin,
        metadata_={"dialect": {**request.extra, "fingerprint": _fp(request)}},
    )
    order.success_url = return_target(settings, order, request.return_url)
    session.add(order)
    await session.flush()
    return Trade(order, await _reserve(session, settings, rates, order, request))


def return_target(settings: Settings, order: Order, return_url: str | None) -> str | None:
    """Epay's shopper return goes through `/pay/return/{trade_no}`, which adds the signed params
    only once the order is paid (§2.4); Epusdt's redirect_url is used as given."""
    if not return_url:
        return None
    if order.integration == EPAY:
        return f"{public_base(settings)}/pay/return/{trade_id(order)}"
    return return_url


def _fp(request: TradeRequest) -> str:
    return "|".join(f"{k}={v}" for k, v in sorted(request.fingerprint().items()))


async def _reserve(
    session: AsyncSession,
    settings: Settings,
    rates: RateBook | None,
    order: Order,
    request: TradeRequest,
) -> PaymentDetail:
    return await payments.create_payment(
        session, settings, order.id, request.option.blockchain, request.option.coin, rates
    )


async def find_trade(session: AsyncSession, value: Any, *integrations: str) -> Order:
    """The order a trade id names, if one of `integrations` made it."""
    order_id = parse_trade_id(value)
    order = await session.get(Order, order_id) if order_id else None
    if order is None or order.integration not in integrations:
        raise OrderNotFound
    return order


async def deposit_view(session: AsyncSession, order: Order) -> tuple[str, str]:
    """(actual_amount, receiving address) of the deposit the order is paid through."""
    deposit = await current_deposit(session, order)
    if deposit is None:
        return "", ""
    return payments.display_amount(order, deposit.amount, deposit.decimals), deposit.wallet_address


def payment_url(settings: Settings, order: Order) -> str:
    return f"{public_base(settings)}/pay/checkout-counter/{trade_id(order)}"


def page_signature(settings: Settings, order: Order) -> tuple[str, str]:
    """A fresh signed URL of the hosted page for the order and its signature. `trade=` tells the
    page to renew it at `/pay/checkout-counter/{trade_id}/signature`: whoever holds the payment
    URL may open the page, as a checkout session's id does."""
    signed = f"{public_base(settings)}/checkout/?order_id={order.id}&trade={trade_id(order)}"
    return signed, sign_url(settings.merchant.secret, signed, int(time.time()))


def signed_page(settings: Settings, order: Order) -> str:
    """The link the payment URL redirects to."""
    signed, signature = page_signature(settings, order)
    return f"{signed}&sig={quote(signature, safe='')}"


def fiat_text(value: Any) -> str | None:
    """A JSON or form amount as decimal text, or None when it is not a plain number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        text = format(Decimal(value), "f")
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None
    try:
        Decimal(text)
    except ArithmeticError:
        return None
    return text if text and text.replace(".", "", 1).isdigit() else None
