"""The Epusdt-compatible API (shared/epusdt.md §1): JSON in, `{status_code, message, data,
request_id}` out, always HTTP 200, MD5-signed with `[epusdt].token` (`app.dialects.md5sign`).

Statuses: pending → 1, paid → 2, expired → 3, cancelled → 4. Codes: 401 signature, 10002
duplicate order, 10003 no wallet, 10004 bad amount, 10005 no unique amount, 10006 no rate, 10008
not found, 10009 bad body, 400 anything else.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.router import Router
from sqlalchemy.ext.asyncio import AsyncSession

from app.answers import Answer, Table, answer
from app.config import Settings
from app.db import utcnow
from app.dialects import md5sign, trades
from app.dialects.trades import EPUSDT, TradeRequest
from app.errors import (
    AmountNotPositive,
    AmountTooFine,
    AppError,
    BodyTooLarge,
    CurrencyNoLongerPriced,
    CurrencyNotConfigured,
    DuplicateOrder,
    InvalidCurrency,
    InvalidFiatAmount,
    InvalidInput,
    MalformedJson,
    MissingParameter,
    NoFreeAmount,
    NoRate,
    NotAJsonObject,
    NoTestWallet,
    NoWallet,
    NoWalletConfigured,
    OrderNotFound,
    OrderNotPending,
    RatesNotConfigured,
    SignatureMismatch,
    SignatureMissing,
    UnknownWalletAddress,
    UnsignableBody,
)
from app.http import Config, Db, plain_text_error, read_json_object, services_of
from app.orders import lifecycle
from app.orders.events import Actor
from app.orders.models import Order, OrderStatus

ANSWERS: Table = {
    AppError: Answer(400),
    SignatureMissing: Answer(401, "signature missing"),
    SignatureMismatch: Answer(401, "signature error"),
    DuplicateOrder: Answer(10002),
    NoWallet: Answer(10003),
    NoTestWallet: Answer(10003),
    NoWalletConfigured: Answer(10003),
    UnknownWalletAddress: Answer(10003),
    AmountNotPositive: Answer(10004),
    InvalidFiatAmount: Answer(10004),
    AmountTooFine: Answer(10004),
    NoFreeAmount: Answer(10005),
    InvalidCurrency: Answer(10006),
    CurrencyNotConfigured: Answer(10006),
    CurrencyNoLongerPriced: Answer(10006),
    RatesNotConfigured: Answer(10006),
    NoRate: Answer(10006),
    OrderNotFound: Answer(10008),
    OrderNotPending: Answer(400, "order is not waiting for payment"),
    BodyTooLarge: Answer(10009, "request body too large"),
    MalformedJson: Answer(10009, "request body is not valid JSON"),
    NotAJsonObject: Answer(10009, "request body must be a JSON object"),
    UnsignableBody: Answer(10009),
    MissingParameter: Answer(400, "{param} is required"),
}
"""Epusdt's `status_code` (and wording, where it differs) per error; anything else is 400.
Texts shared with Epay are `trades.ANSWERS`."""
STATUS = {
    OrderStatus.PENDING: 1,
    OrderStatus.PAID: 2,
    OrderStatus.EXPIRED: 3,
    OrderStatus.CANCELLED: 4,
}


def envelope(
    request: Request[Any, Any, Any], code: int, message: str, data: Any = None
) -> Response[bytes]:
    body = {
        "status_code": code,
        "message": message,
        "data": data,
        "request_id": request.headers.get("x-request-id") or str(uuid.uuid4()),
    }
    return Response(
        json.dumps(body, ensure_ascii=False).encode(), status_code=200, media_type=MediaType.JSON
    )


def refused(request: Request[Any, Any, Any], exc: AppError) -> Response[bytes]:
    """A failure in Epusdt's envelope: HTTP 200, its code and message."""
    return envelope(request, *answer(exc, ANSWERS, trades.ANSWERS))


def refused_400(request: Request[Any, Any, Any], exc: AppError) -> Response[bytes]:
    """`pay/info` answers every failure with 400, as BEpusdt's page expects."""
    return envelope(request, 400, answer(exc, ANSWERS, trades.ANSWERS)[1])


async def _body(
    request: Request[Any, Any, Any], settings: Settings, *, signed: bool
) -> dict[str, Any]:
    _, data = await read_json_object(request, settings.security.max_body_bytes)
    if signed:
        if not data.get("signature"):
            raise SignatureMissing
        try:
            valid = md5sign.epusdt_verify(data, settings.epusdt.token)
        except md5sign.Unsignable:
            raise UnsignableBody from None
        if not valid:
            raise SignatureMismatch
    return data


def _text(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise MissingParameter(name)
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", param=name)
    return value


async def trade_data(
    db_session: AsyncSession, settings: Settings, trade: trades.Trade
) -> dict[str, Any]:
    order = trade.order
    fields = trades.dialect_fields(order)
    if trade.payment is not None:
        actual, address = trade.payment.amount, trade.payment.wallet_address
    else:
        actual, address = await trades.deposit_view(db_session, order)
    left = int((order.expires_at - utcnow()).total_seconds())
    return {
        "trade_id": trades.trade_id(order),
        "order_id": order.merchant_order_id,
        "amount": str(order.amount),
        "actual_amount": actual,
        "token": address,
        "expiration_time": max(0, left),
        "payment_url": trades.payment_url(settings, order),
        "fiat": order.currency,
        "trade_type": fields.get("trade_type", ""),
        "status": STATUS[OrderStatus(order.status)],
    }


@post("/api/v1/order/create-transaction", status_code=200)
async def create_transaction(
    request: Request[Any, Any, Any], db_session: Db, settings: Config
) -> Response[bytes]:
    data = await _body(request, settings, signed=True)
    order_id = _text(data, "order_id", required=True)
    notify_url = _text(data, "notify_url", required=True)
    assert order_id is not None and notify_url is not None
    amount = trades.fiat_text(data.get("amount"))
    if amount is None or Decimal(amount) <= 0:
        raise AmountNotPositive
    trade_type = _text(data, "trade_type")
    option = trades.resolve_trade_type(settings, trade_type)
    address = _text(data, "address")
    if address and address not in option.wallets:
        raise UnknownWalletAddress
    chosen_type = trade_type or trades.trade_type_name(option.blockchain, option.coin)
    trade = await trades.open_trade(
        db_session,
        settings,
        services_of(request.app.state).rates,
        TradeRequest(
            integration=EPUSDT,
            merchant_order_id=order_id,
            amount=amount,
            fiat=_text(data, "fiat") or "CNY",
            notify_url=notify_url,
            return_url=_text(data, "redirect_url"),
            option=option,
            timeout=trades.timeout_of(data.get("timeout")),
            extra={"name": _text(data, "name") or order_id, "trade_type": chosen_type},
        ),
    )
    return envelope(request, 200, "success", await trade_data(db_session, settings, trade))


@post("/api/v1/order/cancel-transaction", status_code=200)
async def cancel_transaction(
    request: Request[Any, Any, Any], db_session: Db, settings: Config
) -> Response[bytes]:
    data = await _body(request, settings, signed=True)
    order = await trades.find_trade(db_session, data.get("trade_id"), EPUSDT)
    moved = await lifecycle.move(
        db_session,
        order.id,
        OrderStatus.CANCELLED,
        lifecycle.Request(by=Actor.MERCHANT),
        only_from=(OrderStatus.PENDING,),
    )
    if moved is None:
        raise OrderNotPending
    return envelope(request, 200, "success", {"trade_id": trades.trade_id(order)})


def pay_info(order: Order, actual: str, address: str) -> dict[str, Any]:
    fields = trades.dialect_fields(order)
    return {
        "trade_id": trades.trade_id(order),
        "order_id": order.merchant_order_id,
        "trade_type": fields.get("trade_type", ""),
        "status": STATUS[OrderStatus(order.status)],
        "money": str(order.amount),
        "actual_amount": actual,
        "token": address,
        "fiat": order.currency,
        "name": fields.get("name", ""),
        "expired_at": int(order.expires_at.timestamp()),
        "created_at": int(order.created_at.timestamp()),
        "redirect_url": order.success_url or "",
    }


@post("/api/v1/pay/info", status_code=200, exception_handlers={AppError: refused_400})
async def info(
    request: Request[Any, Any, Any], db_session: Db, settings: Config
) -> Response[bytes]:
    data = await _body(request, settings, signed=False)
    order = await trades.find_trade(db_session, data.get("trade_id"), EPUSDT)
    actual, address = await trades.deposit_view(db_session, order)
    return envelope(request, 200, "success", pay_info(order, actual, address))


@get("/pay/check-status/{trade_id:str}")
async def check_status(
    request: Request[Any, Any, Any], db_session: Db, trade_id: FromPath[str]
) -> Response[bytes]:
    order = await trades.find_trade(db_session, trade_id, EPUSDT)
    status = STATUS[OrderStatus(order.status)]
    return envelope(request, 200, "success", {"trade_id": trade_id, "status": status})


@get(
    ["/pay/checkout-counter/{trade_id:str}", "/pay/checkout/{trade_id:str}"],
    include_in_schema=False,
    exception_handlers={AppError: plain_text_error},
)
async def checkout_counter(
    db_session: Db, settings: Config, trade_id: FromPath[str]
) -> Response[Any]:
    """The payment URL: a fresh signed link to the hosted page, each time it is opened. BEpusdt's
    code serves `/pay/checkout/…`, its docs `/pay/checkout-counter/…`: both lead to the page."""
    order = await trades.find_trade(db_session, trade_id, trades.EPUSDT, trades.EPAY)
    return Redirect(trades.signed_page(settings, order), status_code=302)


def _json_error(_: Request[Any, Any, Any], exc: AppError) -> Response[Any]:
    status, text = answer(exc)
    return Response({"error": text}, status_code=status)


@get(
    "/pay/checkout-counter/{trade_id:str}/signature",
    include_in_schema=False,
    exception_handlers={AppError: _json_error},
)
async def refresh_signature(
    db_session: Db, settings: Config, trade_id: FromPath[str]
) -> Response[Any]:
    """The hosted page's signature refresh for a dialect order (its `refresh_url`)."""
    order = await trades.find_trade(db_session, trade_id, trades.EPUSDT, trades.EPAY)
    signed_url, signature = trades.page_signature(settings, order)
    return Response(
        {"signed_url": signed_url, "signature": signature}, headers={"Cache-Control": "no-store"}
    )


def api_router() -> Router:
    """Epusdt's API: every failure answers in its envelope; none of it is in our schema."""
    return Router(
        path="/",
        route_handlers=[create_transaction, cancel_transaction, info, check_status],
        exception_handlers={AppError: refused},
        include_in_schema=False,
    )


COUNTER_ROUTES = [checkout_counter, refresh_signature]
