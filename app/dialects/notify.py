"""Epusdt and Epay callbacks (shared/epusdt.md §1.6, §2.3): written to the durable outbox when a
dialect's order is paid (only then: stock dujiaoka credits any correctly signed callback), then
rendered, signed with MD5 and acknowledged by each protocol's own rules at send time.

    epusdt  POST JSON of seven fields + `signature`; acked by HTTP 200 and a body of `ok`/`success`
    epay    GET notify_url?…&sign=…&sign_type=MD5; acked by HTTP 200 and a body containing
            `success` or equal to `ok`
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.arrays import among
from app.config import Settings
from app.dialects import md5sign
from app.dialects.trades import EPAY, EPUSDT, dialect_fields, trade_id
from app.errors import DialectOrderUnpaid
from app.orders.events import OrderStatusChanged
from app.orders.models import Order, OrderStatus
from app.orders.rows import OrderView
from app.payments.quotes import current_deposits
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
    """The callback of each dialect order paid: one read of the Epusdt orders' deposits and one
    of their paying transfers for the whole batch, not two statements per order."""
    paid = [
        change.order
        for change in changes
        if change.order.status == OrderStatus.PAID and change.order.integration in (EPUSDT, EPAY)
    ]
    epusdt = await _epusdt_payloads(session, [o for o in paid if o.integration == EPUSDT])
    for order in paid:
        payload = epusdt[order.id] if order.integration == EPUSDT else await epay_payload(order)
        _enqueue(session, order, payload)


async def resend(session: AsyncSession, order: Order) -> WebhookEvent:
    """An operator's resend of a dialect order's callback: paid orders only, as first sent."""
    if order.status != OrderStatus.PAID:
        raise DialectOrderUnpaid
    return _enqueue(session, order, await _payload(session, order))


def _enqueue(session: AsyncSession, order: OrderView, payload: dict[str, Any]) -> WebhookEvent:
    row_format = FORMAT_EPUSDT if order.integration == EPUSDT else FORMAT_EPAY
    return enqueue(
        session,
        EventType.ORDER_STATUS_CHANGED,
        order.webhook_url,
        payload,
        row_format,
        order_id=order.id,
    )


async def _payload(session: AsyncSession, order: OrderView) -> dict[str, Any]:
    if order.integration == EPUSDT:
        return await epusdt_payload(session, order)
    return await epay_payload(order)


async def epusdt_payload(session: AsyncSession, order: OrderView) -> dict[str, Any]:
    """The seven signed fields; `amount` kept as decimal text (rendered as a JSON number)."""
    return (await _epusdt_payloads(session, [order]))[order.id]


async def _epusdt_payloads(
    session: AsyncSession, orders: Sequence[OrderView]
) -> dict[uuid.UUID, dict[str, Any]]:
    if not orders:
        return {}
    deposits = await current_deposits(session, orders)
    paying = await session.execute(
        sa.select(Transfer.order_id, Transfer.id, Transfer.tx_hash).where(
            among(session, Transfer.order_id, "uuid", [o.id for o in orders]),
            Transfer.deposit_id.is_not(None),
        )
    )
    latest: dict[uuid.UUID, tuple[int, str]] = {}
    for order_id, transfer_id, tx_hash in paying.all():
        if order_id is not None and (order_id not in latest or transfer_id > latest[order_id][0]):
            latest[order_id] = (transfer_id, tx_hash)
    payloads: dict[uuid.UUID, dict[str, Any]] = {}
    for order in orders:
        deposit = deposits.get(order.id)
        payloads[order.id] = {
            "trade_id": trade_id(order),
            "order_id": order.merchant_order_id,
            "amount": md5sign.render_number(order.amount.to_decimal()),
            "actual_amount": display_amount(order, deposit.amount, deposit.decimals)
            if deposit
            else "",
            "token": deposit.wallet_address if deposit else "",
            "block_transaction_id": latest[order.id][1] if order.id in latest else "",
            "status": 2,
        }
    return payloads


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
