"""Epusdt and Epay callbacks (shared/epusdt.md §1.6, §2.3): written to the durable outbox when a
dialect's order is paid (only then: stock dujiaoka credits any correctly signed callback), then
rendered, signed with MD5 and acknowledged by each protocol's own rules at send time.

    epusdt  POST JSON of seven fields + `signature`; acked by HTTP 200 and a body of `ok`/`success`
    epay    GET notify_url?…&sign=…&sign_type=MD5; acked by HTTP 200 and a body containing
            `success` or equal to `ok`
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.dialects import md5sign
from app.dialects.trades import EPAY, EPUSDT, dialect_fields, trade_id
from app.errors import DialectOrderUnpaid
from app.orders.events import OrderStatusChanged
from app.orders.models import Order, OrderStatus
from app.orders.rows import OrderView
from app.payments.quotes import current_deposit
from app.payments.service import display_amount
from app.transfers.models import Transfer
from app.webhooks.models import EventType, WebhookEvent
from app.webhooks.outbox import enqueue

FORMAT_EPUSDT = "epusdt"
FORMAT_EPAY = "epay"


class NotConfigured(Exception):
    """The dialect's secret is gone from the config: the attempt fails and is retried."""


def _ack_text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace").strip().lower()


def epusdt_acked(status: int, body: bytes) -> bool:
    return status == 200 and _ack_text(body) in ("ok", "success")


def epay_acked(status: int, body: bytes) -> bool:
    text = _ack_text(body)
    return status == 200 and ("success" in text or text == "ok")


async def on_order_status_changed(
    session: AsyncSession, changes: Sequence[OrderStatusChanged]
) -> None:
    for change in changes:
        order = change.order
        if order.status != OrderStatus.PAID or order.integration not in (EPUSDT, EPAY):
            continue
        await _write(session, order)


async def _write(session: AsyncSession, order: OrderView) -> WebhookEvent:
    payload = await (
        epusdt_payload(session, order) if order.integration == EPUSDT else epay_payload(order)
    )
    row_format = FORMAT_EPUSDT if order.integration == EPUSDT else FORMAT_EPAY
    return enqueue(
        session,
        EventType.ORDER_STATUS_CHANGED,
        order.webhook_url,
        payload,
        row_format,
        order_id=order.id,
    )


async def resend(session: AsyncSession, order: Order) -> WebhookEvent:
    """An operator's resend of a dialect order's callback: paid orders only, as first sent."""
    if order.status != OrderStatus.PAID:
        raise DialectOrderUnpaid
    return await _write(session, order)


async def epusdt_payload(session: AsyncSession, order: OrderView) -> dict[str, Any]:
    """The seven signed fields; `amount` kept as decimal text (rendered as a JSON number)."""
    deposit = await current_deposit(session, order)
    tx_hash = await session.scalar(
        sa.select(Transfer.tx_hash)
        .where(Transfer.order_id == order.id, Transfer.deposit_id.is_not(None))
        .order_by(Transfer.id.desc())
        .limit(1)
    )
    return {
        "trade_id": trade_id(order),
        "order_id": order.merchant_order_id,
        "amount": md5sign.render_number(order.amount.to_decimal()),
        "actual_amount": display_amount(order, deposit.amount, deposit.decimals) if deposit else "",
        "token": deposit.wallet_address if deposit else "",
        "block_transaction_id": tx_hash or "",
        "status": 2,
    }


async def epay_payload(order: OrderView) -> dict[str, Any]:
    fields = dialect_fields(order)
    params = {
        "trade_no": trade_id(order),
        "out_trade_no": order.merchant_order_id,
        "type": fields.get("type", ""),
        "name": fields.get("name", ""),
        "money": fields.get("money", ""),
        "trade_status": "TRADE_SUCCESS",
        "param": fields.get("param", ""),
    }
    return {k: v for k, v in params.items() if v}


def epusdt_body(payload: dict[str, Any], token: str) -> bytes:
    """Compact JSON with `amount` as a number, the rest as given, `signature` last."""
    signed = {**payload, "amount": Decimal(payload["amount"])}
    signature = md5sign.epusdt_sign(signed, token)
    members = [
        f"{json.dumps(k)}:{payload[k] if k == 'amount' else json.dumps(v, ensure_ascii=False)}"
        for k, v in payload.items()
    ]
    members.append(f'"signature":"{signature}"')
    return ("{" + ",".join(members) + "}").encode()


def epay_query(settings: Settings, payload: dict[str, Any]) -> dict[str, str]:
    params = {"pid": settings.epay.pid, **{k: str(v) for k, v in payload.items()}}
    params = {k: v for k, v in params.items() if v}
    params["sign"] = md5sign.epay_sign(params, settings.epay.key)
    params["sign_type"] = "MD5"
    return params


def epay_url(settings: Settings, target: str, payload: dict[str, Any]) -> str:
    if not settings.epay.key:
        raise NotConfigured("[epay].key is not configured")
    query = urlencode(epay_query(settings, payload), quote_via=quote)
    return f"{target}{'&' if '?' in target else '?'}{query}"
