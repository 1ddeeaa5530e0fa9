"""The Epay (彩虹易支付 V1) gateway as BEpusdt implements it (shared/epusdt.md §2): `submit.php`
(GET query or POST form; 302 to the payment page, a plain-text message on failure), `mapi.php`
(POST form; Caihong's JSON `{code, msg, trade_no, payurl}`), and the shopper's return.

Parameters are signed with MD5 and `[epay].key` over every received parameter
(`app.dialects.md5sign.epay_sign`); `type` is a trade_type, a Caihong name (`alipay`, `wxpay`) or
absent — the last two pay with the default trade_type — and is echoed verbatim in the notify.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from litestar import MediaType, Request, Response, get, post, route
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from app.answers import Answer, Table, answer
from app.config import Settings
from app.dialects import md5sign, notify, trades
from app.dialects.trades import EPAY, TradeRequest
from app.errors import (
    AmountNotPositive,
    AppError,
    BodyTooLarge,
    MissingParameter,
    SignatureMismatch,
    UnknownPid,
    UnsupportedTradeType,
)
from app.http import Config, Db, plain_text_error, read_limited_body, services_of
from app.orders.models import OrderStatus

REQUIRED = ("pid", "out_trade_no", "notify_url", "return_url", "name", "money", "sign")
ANSWERS: Table = {
    BodyTooLarge: Answer(text="request body too large"),
    MissingParameter: Answer(text="missing parameter: {param}"),
    SignatureMismatch: Answer(text="签名错误 (signature error)"),
    UnsupportedTradeType: Answer(text="unsupported type: {trade_type}"),
}
"""Epay's wording where it differs (after `trades.ANSWERS`); a failure is only ever a text."""


def _text(exc: AppError) -> str:
    return answer(exc, ANSWERS, trades.ANSWERS)[1]


async def _params(request: Request[Any, Any, Any], settings: Settings) -> dict[str, str]:
    """The query string and, for a POST, the form body: decoded raw values, last one wins."""
    pairs = parse_qsl(request.scope.get("query_string", b"").decode("utf-8", "replace"), True)
    if request.method == "POST":
        limit = settings.security.max_body_bytes
        raw = await read_limited_body(request, limit)
        if raw is None:
            raise BodyTooLarge(limit)
        pairs += parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


async def _submit(
    request: Request[Any, Any, Any], db_session: AsyncSession, settings: Settings
) -> trades.Trade:
    params = await _params(request, settings)
    missing = [name for name in REQUIRED if not params.get(name)]
    if missing:
        raise MissingParameter(", ".join(missing))
    if not md5sign.epay_verify(params, settings.epay.key):
        raise SignatureMismatch
    if params["pid"] != settings.epay.pid:
        raise UnknownPid
    money = trades.fiat_text(params["money"])
    if money is None or Decimal(money) <= 0:
        raise AmountNotPositive("money")
    submitted = params.get("type", "")
    if "." in submitted and submitted not in trades.TRADE_TYPES:
        raise UnsupportedTradeType(submitted)
    option = trades.resolve_trade_type(
        settings, submitted if submitted in trades.TRADE_TYPES else None
    )
    name = params["name"]
    return await trades.open_trade(
        db_session,
        settings,
        services_of(request.app.state).rates,
        TradeRequest(
            integration=EPAY,
            merchant_order_id=params["out_trade_no"],
            amount=money,
            fiat=params.get("fiat") or params.get("currency") or "CNY",
            notify_url=params["notify_url"],
            return_url=params["return_url"],
            option=option,
            timeout=trades.timeout_of(params.get("timeout")),
            extra={
                "type": submitted,
                "name": name,
                "money": params["money"],
                "param": params.get("param", ""),
                "return_url": params["return_url"],
                "trade_type": trades.trade_type_name(option.blockchain, option.coin),
            },
        ),
    )


@route("/submit.php", http_method=["GET", "POST"], include_in_schema=False)
async def submit(
    request: Request[Any, Any, Any], db_session: Db, settings: Config
) -> Response[Any]:
    """Success: 302 to the payment page. Failure: 200 text/plain, never a redirect."""
    try:
        trade = await _submit(request, db_session, settings)
    except AppError as exc:
        return Response(_text(exc), status_code=200, media_type=MediaType.TEXT)
    return Redirect(trades.payment_url(settings, trade.order), status_code=302)


@post("/mapi.php", include_in_schema=False, status_code=200)
async def mapi(
    request: Request[Any, Any, Any], db_session: Db, settings: Config
) -> Response[bytes]:
    try:
        trade = await _submit(request, db_session, settings)
    except AppError as exc:
        body: dict[str, Any] = {"code": -1, "msg": _text(exc)}
    else:
        body = {
            "code": 1,
            "msg": "success",
            "trade_no": trades.trade_id(trade.order),
            "payurl": trades.payment_url(settings, trade.order),
        }
    return Response(
        json.dumps(body, ensure_ascii=False).encode(), status_code=200, media_type=MediaType.JSON
    )


@get(
    "/pay/return/{trade_no:str}",
    include_in_schema=False,
    exception_handlers={AppError: plain_text_error},
)
async def shopper_return(
    db_session: Db, settings: Config, trade_no: FromPath[str]
) -> Response[Any]:
    """Paid: `return_url` + the notify's signed parameters (§2.4); otherwise the plain URL."""
    order = await trades.find_trade(db_session, trade_no, EPAY)
    target = trades.dialect_fields(order).get("return_url", "")
    if order.status == OrderStatus.PAID:
        query = urlencode(
            notify.epay_query(settings, await notify.epay_payload(order)), quote_via=quote
        )
        target = f"{target}{'&' if '?' in target else '?'}{query}"
    return Redirect(target, status_code=302)


ROUTES = [submit, mapi, shopper_return]
