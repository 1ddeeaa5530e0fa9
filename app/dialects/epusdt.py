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
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import utcnow
from app.dialects import md5sign, trades
from app.dialects.trades import EPUSDT, Kind, TradeError, TradeRequest
from app.http import read_limited_body, services_of
from app.orders import lifecycle
from app.orders.events import Actor
from app.orders.models import Order, OrderStatus

CODES: dict[Kind, int] = {
    Kind.BAD_REQUEST: 400,
    Kind.DUPLICATE: 10002,
    Kind.NO_WALLET: 10003,
    Kind.BAD_AMOUNT: 10004,
    Kind.NO_UNIQUE: 10005,
    Kind.NO_RATE: 10006,
    Kind.NOT_FOUND: 10008,
}
SIGNATURE_ERROR = 401
BAD_BODY = 10009
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


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def _body(
    request: Request[Any, Any, Any], settings: Settings, *, signed: bool
) -> dict[str, Any]:
    raw = await read_limited_body(request, settings.security.max_body_bytes)
    if raw is None:
        raise _Refused(BAD_BODY, "request body too large")
    try:
        data = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise _Refused(BAD_BODY, "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise _Refused(BAD_BODY, "request body must be a JSON object")
    if signed:
        if not data.get("signature"):
            raise _Refused(SIGNATURE_ERROR, "signature missing")
        try:
            valid = md5sign.epusdt_verify(data, settings.epusdt.token)
        except md5sign.Unsignable:
            raise _Refused(BAD_BODY, "arrays and objects cannot be signed") from None
        if not valid:
            raise _Refused(SIGNATURE_ERROR, "signature error")
    return data


def _text(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise _Refused(400, f"{name} is required")
        return None
    if not isinstance(value, str):
        raise _Refused(400, f"{name} must be a string")
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


@post("/api/v1/order/create-transaction", include_in_schema=False, status_code=200)
async def create_transaction(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Response[bytes]:
    try:
        data = await _body(request, settings, signed=True)
        order_id = _text(data, "order_id", required=True)
        notify_url = _text(data, "notify_url", required=True)
        assert order_id is not None and notify_url is not None
        amount = trades.fiat_text(data.get("amount"))
        if amount is None or Decimal(amount) <= 0:
            raise _Refused(CODES[Kind.BAD_AMOUNT], "amount must be a number greater than 0")
        trade_type = _text(data, "trade_type")
        option = trades.resolve_trade_type(settings, trade_type)
        address = _text(data, "address")
        if address and address not in option.wallets:
            raise _Refused(CODES[Kind.NO_WALLET], "address is not a configured wallet")
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
    except TradeError as exc:
        return envelope(request, CODES[exc.kind], exc.message)
    except _Refused as exc:
        return envelope(request, exc.code, exc.message)


@post("/api/v1/order/cancel-transaction", include_in_schema=False, status_code=200)
async def cancel_transaction(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Response[bytes]:
    try:
        data = await _body(request, settings, signed=True)
        order = await trades.find_trade(db_session, EPUSDT, data.get("trade_id"))
        moved = await lifecycle.move(
            db_session,
            order.id,
            OrderStatus.CANCELLED,
            lifecycle.Request(by=Actor.MERCHANT),
            only_from=(OrderStatus.PENDING,),
        )
        if moved is None:
            raise _Refused(400, "order is not waiting for payment")
        return envelope(request, 200, "success", {"trade_id": trades.trade_id(order)})
    except TradeError as exc:
        return envelope(request, CODES[exc.kind], exc.message)
    except _Refused as exc:
        return envelope(request, exc.code, exc.message)


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


@post("/api/v1/pay/info", include_in_schema=False, status_code=200)
async def info(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Response[bytes]:
    try:
        data = await _body(request, settings, signed=False)
        order = await trades.find_trade(db_session, EPUSDT, data.get("trade_id"))
    except (TradeError, _Refused) as exc:
        return envelope(request, 400, exc.message)
    actual, address = await trades.deposit_view(db_session, order)
    return envelope(request, 200, "success", pay_info(order, actual, address))


@get("/pay/check-status/{trade_id:str}", include_in_schema=False)
async def check_status(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    trade_id: FromPath[str],
) -> Response[bytes]:
    try:
        order = await trades.find_trade(db_session, EPUSDT, trade_id)
    except TradeError as exc:
        return envelope(request, CODES[exc.kind], exc.message)
    status = STATUS[OrderStatus(order.status)]
    return envelope(request, 200, "success", {"trade_id": trade_id, "status": status})


async def _dialect_order(db_session: AsyncSession, trade_id: str) -> Order | None:
    """The Epusdt or Epay order a trade id names, or None (unknown, or another integration's)."""
    order_id = trades.parse_trade_id(trade_id)
    order = await db_session.get(Order, order_id) if order_id else None
    if order is None or order.integration not in (trades.EPUSDT, trades.EPAY):
        return None
    return order


@get(
    ["/pay/checkout-counter/{trade_id:str}", "/pay/checkout/{trade_id:str}"],
    include_in_schema=False,
)
async def checkout_counter(
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    trade_id: FromPath[str],
) -> Response[Any]:
    """The payment URL: a fresh signed link to the hosted page, each time it is opened. BEpusdt's
    code serves `/pay/checkout/…`, its docs `/pay/checkout-counter/…`: both lead to the page."""
    order = await _dialect_order(db_session, trade_id)
    if order is None:
        return Response("order not found", status_code=404, media_type=MediaType.TEXT)
    return Redirect(trades.signed_page(settings, order), status_code=302)


@get("/pay/checkout-counter/{trade_id:str}/signature", include_in_schema=False)
async def refresh_signature(
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    trade_id: FromPath[str],
) -> Response[Any]:
    """The hosted page's signature refresh for a dialect order (its `refresh_url`)."""
    order = await _dialect_order(db_session, trade_id)
    if order is None:
        return Response({"error": "order not found"}, status_code=404)
    signed_url, signature = trades.page_signature(settings, order)
    return Response(
        {"signed_url": signed_url, "signature": signature}, headers={"Cache-Control": "no-store"}
    )


API_ROUTES = [create_transaction, cancel_transaction, info, check_status]
COUNTER_ROUTES = [checkout_counter, refresh_signature]
