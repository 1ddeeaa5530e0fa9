"""Operator rules: listing everything, and the few corrections a person may make, each audited.

Used by both the Admin API and `stablecheckout admin`, so the dashboard and the CLI can never
disagree about what an action does.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import defaultdict
from typing import Any, TypeVar
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.models import AdminAction
from app.admin.schemas import (
    AdminActionOut,
    AdminDeposit,
    AdminOrder,
    AdminTransfer,
    AdminWallet,
    CheckoutLink,
    Total,
)
from app.chains import Blockchain, Coin, canonical_tx_id
from app.config import Settings
from app.db import utcnow
from app.errors import (
    InvalidOrderId,
    OrderAlreadyPaid,
    OrderNotFound,
    TransferAlreadyMatched,
    TransferNotConfirmed,
    TransferNotFound,
    TransferRefundClaimed,
)
from app.money import Amount, format_base_units
from app.orders import lifecycle, receipts
from app.orders.events import Actor
from app.orders.models import Order, OrderStatus
from app.payments import accounting
from app.payments.models import Deposit
from app.payments.quotes import add_fiat, quote_view, quoted_deposits
from app.refunds import service as refunds
from app.refunds.models import RefundItem, RefundStatus
from app.security.signatures import sign_url
from app.tokens import resolve_token
from app.transfers.models import ChainCursor, Transfer, TransferStatus
from app.webhooks import service as webhooks
from app.webhooks.models import EventType, WebhookEvent

MAX_LIMIT, MAX_OFFSET, DEFAULT_LIMIT = 200, 100_000, 20
T = TypeVar("T")


def page(limit: int | None, offset: int | None) -> tuple[int, int]:
    """Ocrch's clamps: limit 1..200 (default 20), offset 0..100000."""
    return (
        min(max(limit if limit is not None else DEFAULT_LIMIT, 1), MAX_LIMIT),
        min(max(offset or 0, 0), MAX_OFFSET),
    )


Q = TypeVar("Q", bound=sa.Select[Any])


def _where_given(query: Q, *filters: tuple[Any, object]) -> Q:
    """`query` narrowed to `column == value` for each filter whose value was given."""
    for column, value in filters:
        if value is not None:
            query = query.where(column == value)
    return query


async def _page(
    session: AsyncSession, query: sa.Select[T], limit: int | None, offset: int | None
) -> list[T]:
    limit, offset = page(limit, offset)
    return list(await session.scalars(query.limit(limit).offset(offset)))


async def _order(session: AsyncSession, order_id: uuid.UUID, *, fresh: bool = False) -> Order:
    order = await session.get(Order, order_id, populate_existing=fresh)
    if order is None:
        raise OrderNotFound
    return order


def _ts(value: dt.datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


async def record_action(
    session: AsyncSession,
    actor: str,
    action: str,
    target: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AdminAction(
            actor=actor,
            action=action,
            target=target,
            reason=reason,
            details=details,
            created_at=utcnow(),
        )
    )


async def _webhook_summary(
    session: AsyncSession, order_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, Any, Any]]:
    """Ocrch's per-order webhook fields, derived from our per-event outbox rows."""
    if not order_ids:
        return {}
    failed = WebhookEvent.attempts - sa.case((WebhookEvent.delivered_at.is_not(None), 1), else_=0)
    rows = await session.execute(
        sa.select(
            WebhookEvent.order_id,
            sa.func.sum(failed),
            sa.func.max(WebhookEvent.delivered_at),
            sa.func.max(WebhookEvent.last_attempt_at),
        )
        .where(
            WebhookEvent.order_id.in_(order_ids),
            WebhookEvent.event_type == EventType.ORDER_STATUS_CHANGED,
        )
        .group_by(WebhookEvent.order_id)
    )
    return {
        oid: (int(count or 0), success, tried)
        for oid, count, success, tried in rows
        if oid is not None
    }


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    moment: dt.datetime = value
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def admin_orders(session: AsyncSession, orders: list[Order]) -> list[AdminOrder]:
    summary = await _webhook_summary(session, [o.id for o in orders])
    result = []
    for order in orders:
        retries, success, tried = summary.get(order.id, (0, None, None))
        result.append(
            AdminOrder(
                order_id=order.id,
                merchant_order_id=order.merchant_order_id,
                amount=str(order.amount),
                status=order.status,
                created_at=int(order.created_at.timestamp()),
                webhook_url=order.webhook_url,
                webhook_retry_count=retries,
                webhook_success_at=_ts(_aware(success)),
                webhook_last_tried_at=_ts(_aware(tried)),
                expires_at=int(order.expires_at.timestamp()),
                paid_at=_ts(order.paid_at),
                status_reason=order.status_reason,
                metadata=order.metadata_,
                currency=order.currency,
            )
        )
    return result


async def list_orders(
    session: AsyncSession,
    *,
    limit: int | None = None,
    offset: int | None = None,
    status: OrderStatus | None = None,
    merchant_order_id: str | None = None,
) -> list[AdminOrder]:
    query = _where_given(
        sa.select(Order).order_by(Order.created_at.desc(), Order.id.desc()),
        (Order.status, status),
        (Order.merchant_order_id, merchant_order_id),
    )
    return await admin_orders(session, await _page(session, query, limit, offset))


async def get_admin_order(session: AsyncSession, order_id: uuid.UUID) -> AdminOrder:
    return (await admin_orders(session, [await _order(session, order_id, fresh=True)]))[0]


def last_scanned(deposit: Deposit, chain_scanned_at: dt.datetime | None) -> dt.datetime:
    """When the watcher last looked for this deposit's payment: its chain's last scan while it was
    reserved, and never before it started (the Ocrch dashboard types this field as an integer)."""
    scanned = deposit.last_scanned_at or chain_scanned_at
    if scanned is None:
        return deposit.started_at
    return max(deposit.started_at, min(scanned, deposit.reserved_until))


def admin_deposit(deposit: Deposit, chain_scanned_at: dt.datetime | None = None) -> AdminDeposit:
    return AdminDeposit(
        id=deposit.id,
        order_id=deposit.order_id,
        blockchain=deposit.blockchain,
        token=deposit.token,
        user_address=deposit.user_address,
        wallet_address=deposit.wallet_address,
        value=format_base_units(deposit.amount, deposit.decimals),
        started_at=int(deposit.started_at.timestamp()),
        last_scanned_at=int(last_scanned(deposit, chain_scanned_at).timestamp()),
        status=deposit.status,
        reserved_until=int(deposit.reserved_until.timestamp()),
        quote=quote_view(deposit),
    )


async def list_deposits(
    session: AsyncSession,
    *,
    limit: int | None = None,
    offset: int | None = None,
    order_id: uuid.UUID | None = None,
    blockchain: Blockchain | None = None,
    token: Coin | None = None,
) -> list[AdminDeposit]:
    query = _where_given(
        sa.select(Deposit).order_by(Deposit.started_at.desc(), Deposit.id.desc()),
        (Deposit.order_id, order_id),
        (Deposit.blockchain, blockchain),
        (Deposit.token, token),
    )
    deposits = await _page(session, query, limit, offset)
    cursors = await session.execute(sa.select(ChainCursor.blockchain, ChainCursor.updated_at))
    scanned_at = {blockchain: updated_at for blockchain, updated_at in cursors}
    return [admin_deposit(d, scanned_at.get(d.blockchain)) for d in deposits]


def admin_transfer(
    settings: Settings, transfer: Transfer, deposit: Deposit | None = None
) -> AdminTransfer:
    token = resolve_token(settings, Blockchain(transfer.blockchain), Coin(transfer.token))
    decimals = token.decimals if token else 0
    return AdminTransfer(
        id=transfer.id,
        blockchain=transfer.blockchain,
        token=transfer.token,
        from_address=transfer.from_address,
        to_address=transfer.to_address,
        txn_hash=transfer.tx_hash,
        value=format_base_units(transfer.amount, decimals),
        block_number=transfer.block_number,
        block_timestamp=int(transfer.block_time.timestamp()),
        blockchain_confirmed=transfer.confirmed,
        created_at=int(transfer.created_at.timestamp()),
        status=transfer.status,
        fulfillment_id=transfer.deposit_id,
        log_index=transfer.log_index,
        order_id=transfer.order_id,
        late=transfer.late,
        duplicate=transfer.duplicate,
        quote=quote_view(deposit),
    )


async def list_transfers(
    session: AsyncSession,
    settings: Settings,
    *,
    address: str | None = None,
    limit: int | None = None,
    offset: int | None = None,
    status: TransferStatus | None = None,
    blockchain: Blockchain | None = None,
    token: Coin | None = None,
    tx_hash: str | None = None,
    order_id: uuid.UUID | None = None,
) -> list[AdminTransfer]:
    """Transfers, newest first. Addresses match case-insensitively (explorers lowercase them)."""
    query = _where_given(
        sa.select(Transfer).order_by(Transfer.created_at.desc(), Transfer.id.desc()),
        (sa.func.lower(Transfer.to_address), address.lower() if address is not None else None),
        (Transfer.status, status),
        (Transfer.blockchain, blockchain),
        (Transfer.token, token),
        (Transfer.tx_hash, canonical_tx_id(tx_hash) if tx_hash is not None else None),
        (Transfer.order_id, order_id),
    )
    rows = await _page(session, query, limit, offset)
    deposits = await quoted_deposits(session, [t.deposit_id for t in rows if t.deposit_id])
    return [admin_transfer(settings, t, deposits.get(t.deposit_id or 0)) for t in rows]


def list_wallets(settings: Settings) -> list[AdminWallet]:
    return [
        AdminWallet(
            blockchain=w.blockchain,
            address=w.address,
            enabled_coins=[str(c) for c in w.enabled_coins],
        )
        for w in settings.wallets
    ]


def operator_request(reason: str) -> lifecycle.Request:
    """An operator may pay an order from any unpaid status (the lifecycle's guards say so)."""
    return lifecycle.Request(by=Actor.OPERATOR, reason=reason[:255])


async def mark_paid(
    session: AsyncSession, order_id: uuid.UUID, *, actor: str, reason: str | None
) -> AdminOrder:
    """Pay an order by hand (pending, expired or cancelled); already paid is a no-op."""
    previous = (await _order(session, order_id)).status
    if previous != OrderStatus.PAID:
        why = reason or "marked paid by an operator"
        changed = await lifecycle.move(session, order_id, OrderStatus.PAID, operator_request(why))
        if changed is not None:
            await record_action(
                session, actor, "order.mark_paid", str(order_id), why, {"from_status": previous}
            )
    return await get_admin_order(session, order_id)


async def attach_transfer(
    session: AsyncSession,
    settings: Settings,
    transfer_id: int,
    order_id: uuid.UUID,
    *,
    actor: str,
    reason: str | None,
) -> AdminOrder:
    """Credit an unmatched, confirmed transfer to an order (a wrong amount the merchant accepts,
    a late payment): the order is paid, the transfer is linked, and the trail says who and why."""
    transfer = await session.get(Transfer, transfer_id, with_for_update=True)
    if transfer is None:
        raise TransferNotFound
    if transfer.status == TransferStatus.MATCHED:
        raise TransferAlreadyMatched
    if not transfer.confirmed or transfer.status != TransferStatus.NO_MATCHED_DEPOSIT:
        raise TransferNotConfirmed
    order = await _order(session, order_id)
    if order.status == OrderStatus.PAID:
        raise OrderAlreadyPaid
    listed = await refunds.items_for_transfers(session, [transfer_id])
    if any(item.status != RefundStatus.OPEN for item in listed):
        raise TransferRefundClaimed
    why = reason or f"transfer {transfer_id} attached by an operator"
    changed = await lifecycle.move(session, order_id, OrderStatus.PAID, operator_request(why))
    if changed is None:
        # Paid a moment ago by someone else (the watcher): crediting this transfer too would
        # count the order's money twice. The transfer stays unmatched for another decision.
        raise OrderAlreadyPaid
    await _credit_attached(session, changed, transfer, listed)
    transfer.status, transfer.order_id, transfer.updated_at = (
        TransferStatus.MATCHED,
        order_id,
        utcnow(),
    )
    details: dict[str, Any] = {
        "order_id": str(order_id),
        "amount": str(transfer.amount),
        "tx_hash": transfer.tx_hash,
    }
    if listed:
        details["withdrawn_refunds"] = [i.id for i in listed]
    await record_action(session, actor, "transfer.attach", str(transfer_id), why, details)
    return await get_admin_order(session, order_id)


async def _credit_attached(
    session: AsyncSession, order: Order, transfer: Transfer, items: list[RefundItem]
) -> None:
    """The attached transfer is the order's money now: what was listed for its refund comes off
    the list, and it counts in the order's `amount_received` (once: a late or repeat payment of
    this order is counted already), converted through the order's deposit on its chain and coin
    (at the coin's face value when there is none)."""
    await refunds.withdraw(session, [item.id for item in items])
    if transfer.order_id == order.id or not items:
        return
    deposit = await session.scalar(
        sa.select(Deposit)
        .where(
            Deposit.order_id == order.id,
            Deposit.blockchain == transfer.blockchain,
            Deposit.token == transfer.token,
        )
        .order_by(Deposit.id.desc())
        .limit(1)
    )
    if deposit is None:
        deposit = Deposit(token=transfer.token, decimals=items[0].decimals)
    received = order.amount_received + accounting.credit(order, deposit, transfer.amount)
    await receipts.record(
        session, [receipts.Receipt(order.id, received, order.payment_exceptions or "")]
    )


async def checkout_link(
    session: AsyncSession, settings: Settings, order_id: uuid.UUID, page_url: str, *, actor: str
) -> CheckoutLink:
    """A freshly signed link to the hosted page: a new 300-second window for a shopper."""
    await _order(session, order_id)
    ts = int(time.time())
    signed = f"{page_url}?order_id={order_id}"
    signature = sign_url(settings.merchant.secret, signed, ts)
    await record_action(session, actor, "order.checkout_link", str(order_id))
    return CheckoutLink(
        url=f"{signed}&sig={quote(signature, safe='')}",
        signed_url=signed,
        signature=signature,
        expires_at=ts + settings.security.signature_max_age_seconds,
    )


async def totals(
    session: AsyncSession, settings: Settings, since: dt.datetime, until: dt.datetime
) -> list[Total]:
    """Received per day, chain and coin, counting only transfers that paid an order.

    Summed in Python: amounts are exact integers, which SQLite stores as text."""
    rows = await session.execute(
        sa.select(
            Transfer.block_time,
            Transfer.blockchain,
            Transfer.token,
            Transfer.amount,
            Deposit.quote_currency,
            Deposit.quote_fiat_units,
            Deposit.quote_fiat_scale,
        )
        .outerjoin(Deposit, Deposit.id == Transfer.deposit_id)
        .where(
            Transfer.status == TransferStatus.MATCHED,
            Transfer.block_time >= since,
            Transfer.block_time < until,
        )
    )
    sums: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    fiat: dict[tuple[str, str, str], dict[str, Amount]] = defaultdict(dict)
    for block_time, blockchain, token, amount, currency, fiat_units, fiat_scale in rows:
        key = (block_time.date().isoformat(), blockchain, token)
        entry = sums[key]
        entry[0] += 1
        entry[1] += amount
        if currency is not None and fiat_units is not None and fiat_scale is not None:
            add_fiat(fiat[key], currency, Amount(fiat_units, fiat_scale))
    result = []
    for (day, blockchain, token), (count, amount) in sorted(sums.items()):
        info = resolve_token(settings, Blockchain(blockchain), Coin(token))
        result.append(
            Total(
                day=day,
                blockchain=blockchain,
                token=token,
                count=count,
                amount=format_base_units(amount, info.decimals if info else 0),
                fiat={c: str(a) for c, a in sorted(fiat[(day, blockchain, token)].items())} or None,
            )
        )
    return result


async def list_actions(
    session: AsyncSession, *, limit: int | None = None, offset: int | None = None
) -> list[AdminActionOut]:
    query = sa.select(AdminAction).order_by(AdminAction.id.desc())
    return [
        AdminActionOut(
            id=a.id,
            created_at=int(a.created_at.timestamp()),
            actor=a.actor,
            action=a.action,
            target=a.target,
            reason=a.reason,
            details=a.details,
        )
        for a in await _page(session, query, limit, offset)
    ]


def parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidOrderId from None


async def resend_order_webhook(
    session: AsyncSession, order_id: uuid.UUID, *, actor: str
) -> WebhookEvent:
    """A new event with the order's current status, recorded in the trail."""
    event = await webhooks.resend_order_status(session, order_id)
    await record_action(session, actor, "order.resend_webhook", str(order_id))
    return event


async def resend_transfer_webhook(
    session: AsyncSession, settings: Settings, transfer_id: int, *, actor: str
) -> WebhookEvent | None:
    """Report a transfer again (nothing is sent without an unknown-transfer URL)."""
    event = await webhooks.resend_unknown_transfer(
        session, transfer_id, settings.merchant.unknown_transfer_webhook_url
    )
    await record_action(session, actor, "transfer.resend_webhook", str(transfer_id))
    return event
