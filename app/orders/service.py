"""Order rules: creation (with idempotency), lookup, and the requests that move an order.

Every status change goes through `app.orders.lifecycle` (the transition table and the only writer
of `orders.status`); this module says who asks (the shopper cancels, the sweeper expires).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.chains import ANY_COIN_DECIMALS, COIN_DECIMALS, Blockchain
from app.config import Settings
from app.db import utcnow
from app.errors import (
    InvalidInput,
    OrderNotFound,
    OrderNotPending,
    UrlNotHttp,
    UrlTooLong,
    WebhookTargetBlocked,
)
from app.idempotency import StoredResponse, respond_once
from app.money import Amount
from app.orders import lifecycle
from app.orders.events import Actor
from app.orders.models import Order, OrderStatus
from app.orders.receipts import order_receipt
from app.orders.rows import OrderView
from app.orders.schemas import CreateOrderRequest, OrderResponse
from app.payments.quotes import fiat_price, payment_fields, positive_amount
from app.tokens import required_confirmations
from app.transfers.models import ChainCursor, Transfer, TransferStatus
from app.transfers.rows import TransferRow
from app.webhooks.ssrf import BlockedTarget, check_literal

MAX_MERCHANT_ORDER_ID = 255
MAX_METADATA_BYTES = 8192


def to_unix(value: dt.datetime) -> int:
    return int(value.timestamp())


def order_response(order: Order) -> OrderResponse:
    return OrderResponse(
        order_id=order.id,
        merchant_order_id=order.merchant_order_id,
        amount=str(order.amount),
        status=OrderStatus(order.status),
        created_at=to_unix(order.created_at),
        expires_at=to_unix(order.expires_at),
        currency=order.currency,
        metadata=order.metadata_,
        success_url=order.success_url,
        cancel_url=order.cancel_url,
        **order_receipt(order),
    )


def order_body(order: OrderView) -> dict[str, Any]:
    """`order_response(order).model_dump(mode="json")`, built as a plain dict: the watcher pushes
    one per detected and per paid order, and the pydantic model and its JSON dump were a visible
    part of a batch's CPU (docs/benchmarks.md). Same keys, order and values (a test holds them
    equal)."""
    metadata = order.metadata_
    return {
        "order_id": str(order.id),
        "merchant_order_id": order.merchant_order_id,
        "amount": str(order.amount),
        "status": OrderStatus(order.status).value,
        "created_at": to_unix(order.created_at),
        "expires_at": to_unix(order.expires_at),
        "currency": order.currency,
        "metadata": dict(metadata) if metadata is not None else None,
        "success_url": order.success_url,
        "cancel_url": order.cancel_url,
        "transfer": None,
        "confirmations": None,
        "required_confirmations": None,
        "payment": None,
        **order_receipt(order),
    }


def order_message(order: OrderView) -> dict[str, Any]:
    """The `status_update` frame pushed to the order's WebSocket clients."""
    return {"type": "status_update", "order": order_body(order)}


def check_url(name: str, value: str | None, settings: Settings, *, webhook: bool = False) -> None:
    """A URL a request gives us (none is fine): absolute http(s) within
    `[webhooks].max_url_length`; a webhook's must also pass the SSRF rules (`app.webhooks.ssrf`)."""
    if value is None:
        return
    if len(value) > settings.webhooks.max_url_length:
        raise UrlTooLong(name, settings.webhooks.max_url_length)
    if not _is_http_url(value):
        raise UrlNotHttp(name)
    if webhook:
        refusal = _webhook_refusal(value, settings.webhooks.allow_private_targets)
        if refusal is not None:
            raise WebhookTargetBlocked(name, refusal)


@functools.lru_cache(maxsize=1024)
def _is_http_url(value: str) -> bool:
    """Cached: a shop sends the same few URLs with every order, and parsing them was a visible
    part of a create's CPU (docs/benchmarks.md)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@functools.lru_cache(maxsize=1024)
def _webhook_refusal(url: str, allow_private: bool) -> str | None:
    """Why `check_literal` refuses `url`, or None. Cached per URL: the check is pure (no DNS), and
    `ipaddress` raising on every hostname cost ≈ 9 % of a create's CPU (docs/benchmarks.md)."""
    try:
        check_literal(url, allow_private=allow_private)
    except BlockedTarget as exc:
        return str(exc)
    return None


def _validated_amount(request: CreateOrderRequest) -> Amount:
    amount = positive_amount(request.amount)
    decimals = COIN_DECIMALS[request.stablecoin] if request.stablecoin else ANY_COIN_DECIMALS
    if amount.significant_scale > decimals:
        coin = request.stablecoin or "every supported coin"
        raise InvalidInput(
            f"amount has more than {decimals} fractional digits, finer than {coin} can carry",
            param="amount",
        )
    return amount


def _validate(request: CreateOrderRequest, settings: Settings) -> tuple[Amount, int]:
    if not request.order_id:
        raise InvalidInput("order_id must not be empty", param="order_id")
    if len(request.order_id) > MAX_MERCHANT_ORDER_ID:
        raise InvalidInput(
            f"order_id is longer than {MAX_MERCHANT_ORDER_ID} characters", param="order_id"
        )
    if request.currency is None:
        amount = _validated_amount(request)
    else:
        amount, request.currency = fiat_price(request.amount, request.currency, settings)
    if amount.to_decimal() > settings.orders.max_amount:
        raise InvalidInput(
            f"amount must be at most {settings.orders.max_amount:f} ([orders].max_amount)",
            param="amount",
        )
    check_url("webhook_url", request.webhook_url, settings, webhook=True)
    check_url("success_url", request.success_url, settings)
    check_url("cancel_url", request.cancel_url, settings)
    ttl = settings.orders.ttl_seconds if request.expires_in is None else request.expires_in
    if not 60 <= ttl <= settings.orders.max_ttl_seconds:
        raise InvalidInput(
            f"expires_in must be between 60 and {settings.orders.max_ttl_seconds} seconds",
            param="expires_in",
        )
    if request.metadata is not None and len(json.dumps(request.metadata)) > MAX_METADATA_BYTES:
        raise InvalidInput(f"metadata is larger than {MAX_METADATA_BYTES} bytes", param="metadata")
    return amount, ttl


async def create_order(
    session: AsyncSession, settings: Settings, request: CreateOrderRequest
) -> Order:
    amount, ttl = _validate(request, settings)
    now = utcnow()
    order = Order.pending(
        request.order_id,
        amount,
        now,
        now + dt.timedelta(seconds=ttl),
        currency=request.currency,
        webhook_url=request.webhook_url,
        success_url=request.success_url,
        cancel_url=request.cancel_url,
        blockchain=request.blockchain,
        stablecoin=request.stablecoin,
        expecting_wallet_address=request.expecting_wallet_address,
        metadata_=request.metadata,
    )
    session.add(order)
    await session.flush()
    return order


async def create_order_response(
    session: AsyncSession,
    settings: Settings,
    request: CreateOrderRequest,
    *,
    raw_body: bytes,
    idempotency_key: str | None,
) -> StoredResponse:
    """Create an order and its 201 body; with a key, the same key and body give the same answer."""

    async def produce() -> str:
        order = await create_order(session, settings, request)
        return order_response(order).model_dump_json()

    return await respond_once(session, "service", idempotency_key, raw_body, produce)


async def get_order(session: AsyncSession, order_id: uuid.UUID) -> Order:
    order = await session.get(Order, order_id)
    if order is None:
        raise OrderNotFound
    return order


async def change_status(
    session: AsyncSession,
    order_id: uuid.UUID,
    *,
    to: OrderStatus,
    allowed_from: tuple[OrderStatus, ...] = (OrderStatus.PENDING,),
    reason: str | None = None,
) -> Order | None:
    """An operator's explicit move of one order to `to`, from one of `allowed_from` (within what
    the lifecycle table allows an operator); None when it did not move."""
    return await lifecycle.move(
        session,
        order_id,
        to,
        lifecycle.Request(by=Actor.OPERATOR, reason=reason),
        only_from=allowed_from,
    )


async def expire_due_orders(session: AsyncSession, *, limit: int = 500) -> list[Order]:
    """Expire pending orders past `expires_at`; safe to run in several processes at once."""
    now = utcnow()
    due = await session.scalars(
        sa.select(Order)
        .where(Order.status == OrderStatus.PENDING, Order.expires_at <= now)
        .order_by(Order.expires_at)
        .limit(limit)
    )
    sweeper = lifecycle.Request(by=Actor.SWEEPER)
    return await lifecycle.apply(session, OrderStatus.EXPIRED, [(o, sweeper) for o in due.all()])


async def cancel_order(session: AsyncSession, order_id: uuid.UUID) -> Order:
    """The shopper gives up: pending → cancelled, with its webhook and push."""
    shopper = lifecycle.Request(by=Actor.SHOPPER)
    order = await lifecycle.move(session, order_id, OrderStatus.CANCELLED, shopper)
    if order is not None:
        return order
    if await session.get(Order, order_id) is None:
        raise OrderNotFound
    raise OrderNotPending


async def order_view(session: AsyncSession, settings: Settings, order: Order) -> dict[str, Any]:
    """The order as pages see it: the wire fields plus, while a payment is confirming, its progress.

    Polling (`GET …/status`) and the WebSocket snapshot use this, so a page that reconnects shows
    "payment detected, k of n confirmations" exactly as one that received the pushes.
    """
    view = order_response(order).model_dump(mode="json")
    view.update(await payment_fields(session, order))
    if order.status != OrderStatus.PENDING:
        return view
    transfer = await session.scalar(
        sa.select(Transfer)
        .where(
            Transfer.order_id == order.id,
            Transfer.deposit_id.is_not(None),
            Transfer.status == TransferStatus.WAITING_FOR_CONFIRMATION,
        )
        .order_by(Transfer.id.desc())
        .limit(1)
    )
    if transfer is None:
        return view
    cursor = await session.get(ChainCursor, transfer.blockchain)
    head = cursor.block_number if cursor else transfer.block_number
    view.update(
        progress_fields(
            transfer, head, required_confirmations(settings, Blockchain(transfer.blockchain))
        )
    )
    return view


def progress_fields(transfer: Transfer | TransferRow, head: int, required: int) -> dict[str, Any]:
    """Additive order fields that tell a page "payment detected, k of n confirmations"."""
    return {
        "transfer": {
            "blockchain": transfer.blockchain,
            "stablecoin": transfer.token,
            "tx_hash": transfer.tx_hash,
            "log_index": transfer.log_index,
            "from_address": transfer.from_address,
            "amount_base_units": str(transfer.amount),
            "block_number": transfer.block_number,
        },
        "confirmations": max(0, head - transfer.block_number + 1),
        "required_confirmations": required,
    }
