"""The exceptions queue: what an operator must decide by hand, and the actions that settle it.

    unmatched   confirmed transfers credited to no order, each with its nearest candidates (the
                reserved deposits on the same chain, coin and wallet, by amount distance)
    flagged     transfers whose payment departed from the exact amount (`transfers.exception`)
    refunds     refund items by status (open → claimed → sent)

Actions: attach a transfer to an order (`service.attach_transfer`, as before), accept an order as
paid (an operator move through the lifecycle, with a reason), make a refund claim link, mark a
refund sent by hand (checked against the node's receipt on EVM chains). Each is audited in
`admin_actions`. Used by the Admin API and `stablecheckout admin`, like `app.admin.service`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.queue_schemas import (
    Candidate,
    ClaimLinkOut,
    FlaggedPayment,
    RefundItemOut,
    UnmatchedTransfer,
)
from app.admin.schemas import AdminOrder
from app.admin.service import (
    admin_transfer,
    get_admin_order,
    operator_request,
    page,
    record_action,
)
from app.chains import CHAINS, Blockchain, ChainFamily, canonical_tx_id
from app.config import Settings
from app.db import unit_of_work
from app.errors import (
    InvalidInput,
    NodeCheckUnavailable,
    OrderAlreadyPaid,
    OrderNotFound,
    OrderRefundSettled,
    RefundAlreadySent,
    RefundNotInTransaction,
    RefundNotOpen,
    RefundTransfersTaken,
    TransactionUnknown,
)
from app.http import Services
from app.money import format_base_units
from app.orders import lifecycle
from app.orders.models import Order, OrderStatus
from app.payments.models import RESERVED_STATUSES, Deposit
from app.payments.quotes import quoted_deposits
from app.refunds import claims, receipts
from app.refunds import service as refunds
from app.refunds.models import RefundItem, RefundKind, RefundStatus, SentEvidence
from app.transfers.models import Transfer, TransferStatus

MAX_CANDIDATES = 10
WITHDRAWN_ON_ACCEPT = (RefundKind.LATE, RefundKind.EXPIRED_PARTIAL)
"""Refund items that exist only because the order was not paid: accepting it as paid credits
their money to the order, so they are withdrawn (and audited) rather than refunded too."""
_EVM_TX = re.compile(r"^0x[0-9a-fA-F]{64}$")
_HEX_TX = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_BASE58_TX = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{64,88}$")


def _ts(value: dt.datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _signed(units: int, decimals: int) -> str:
    return ("-" if units < 0 else "") + format_base_units(abs(units), decimals)


# -- listings


async def unmatched(
    session: AsyncSession,
    settings: Settings,
    *,
    limit: int | None = None,
    offset: int | None = None,
    blockchain: Blockchain | None = None,
    candidates: int = 3,
) -> list[UnmatchedTransfer]:
    """Confirmed transfers no order took, newest first, with their nearest reserved deposits."""
    limit, offset = page(limit, offset)
    query = (
        sa.select(Transfer)
        .where(
            Transfer.status == TransferStatus.NO_MATCHED_DEPOSIT,
            Transfer.order_id.is_(None),
        )
        .order_by(Transfer.created_at.desc(), Transfer.id.desc())
    )
    if blockchain is not None:
        query = query.where(Transfer.blockchain == blockchain)
    rows = list(await session.scalars(query.limit(limit).offset(offset)))
    near = await _nearest(session, rows, max(0, min(candidates, MAX_CANDIDATES)))
    return [
        UnmatchedTransfer(transfer=admin_transfer(settings, t), candidates=near.get(t.id, []))
        for t in rows
    ]


async def _nearest(
    session: AsyncSession, transfers: Sequence[Transfer], count: int
) -> dict[int, list[Candidate]]:
    """Per transfer, the `count` reserved deposits on its chain, coin and wallet nearest in
    amount. Distances are computed here: amounts are exact integers that SQLite stores as text."""
    if not transfers or count == 0:
        return {}
    groups = {(t.blockchain, t.token, t.to_address.lower()) for t in transfers}
    pool: dict[tuple[str, str, str], list[tuple[Deposit, Order]]] = {g: [] for g in groups}
    for blockchain, token, wallet in groups:
        rows = await session.execute(
            sa.select(Deposit, Order)
            .join(Order, Order.id == Deposit.order_id)
            .where(
                Deposit.blockchain == blockchain,
                Deposit.token == token,
                sa.func.lower(Deposit.wallet_address) == wallet,
                Deposit.status.in_(RESERVED_STATUSES),
            )
        )
        pool[(blockchain, token, wallet)] = [(d, o) for d, o in rows]
    result: dict[int, list[Candidate]] = {}
    for transfer in transfers:
        options = pool[(transfer.blockchain, transfer.token, transfer.to_address.lower())]
        ranked = sorted(
            options,
            key=lambda pair: (abs(transfer.amount - pair[0].amount), -pair[0].id),
        )[:count]
        result[transfer.id] = [
            Candidate(
                deposit_id=deposit.id,
                order_id=order.id,
                merchant_order_id=order.merchant_order_id,
                order_status=order.status,
                deposit_status=deposit.status,
                value=format_base_units(deposit.amount, deposit.decimals),
                difference=_signed(transfer.amount - deposit.amount, deposit.decimals),
                reserved_until=int(deposit.reserved_until.timestamp()),
            )
            for deposit, order in ranked
        ]
    return result


async def flagged(
    session: AsyncSession,
    settings: Settings,
    *,
    limit: int | None = None,
    offset: int | None = None,
    exception: str | None = None,
    blockchain: Blockchain | None = None,
) -> list[FlaggedPayment]:
    """Transfers whose payment was not exact, newest first, with the refund items they left."""
    limit, offset = page(limit, offset)
    query = (
        sa.select(Transfer)
        .where(Transfer.exception.is_not(None))
        .order_by(Transfer.created_at.desc(), Transfer.id.desc())
    )
    if exception is not None:
        query = query.where(Transfer.exception == exception)
    if blockchain is not None:
        query = query.where(Transfer.blockchain == blockchain)
    rows = list(await session.scalars(query.limit(limit).offset(offset)))
    items = await refunds.items_for_transfers(session, [t.id for t in rows])
    deposits = await quoted_deposits(session, [t.deposit_id for t in rows if t.deposit_id])
    by_transfer: dict[int, list[int]] = {}
    for item in sorted(items, key=lambda i: i.id):
        by_transfer.setdefault(item.transfer_id, []).append(item.id)
    return [
        FlaggedPayment(
            exception=str(t.exception),
            transfer=admin_transfer(settings, t, deposits.get(t.deposit_id or 0)),
            refund_ids=by_transfer.get(t.id, []),
        )
        for t in rows
    ]


async def refund_items(
    session: AsyncSession,
    *,
    limit: int | None = None,
    offset: int | None = None,
    status: RefundStatus | None = None,
    blockchain: Blockchain | None = None,
    order_id: uuid.UUID | None = None,
) -> list[RefundItemOut]:
    limit, offset = page(limit, offset)
    query = sa.select(RefundItem).order_by(RefundItem.created_at.desc(), RefundItem.id.desc())
    if status is not None:
        query = query.where(RefundItem.status == status)
    if blockchain is not None:
        query = query.where(RefundItem.blockchain == blockchain)
    if order_id is not None:
        query = query.where(RefundItem.order_id == order_id)
    return await refund_views(
        session, list(await session.scalars(query.limit(limit).offset(offset)))
    )


async def refund_views(session: AsyncSession, items: Sequence[RefundItem]) -> list[RefundItemOut]:
    order_ids = list({i.order_id for i in items if i.order_id is not None})
    transfer_ids = list({i.transfer_id for i in items})
    refs: dict[uuid.UUID, str] = {}
    hashes: dict[int, str] = {}
    if order_ids:
        rows = await session.execute(
            sa.select(Order.id, Order.merchant_order_id).where(Order.id.in_(order_ids))
        )
        refs = {oid: ref for oid, ref in rows}
    if transfer_ids:
        rows2 = await session.execute(
            sa.select(Transfer.id, Transfer.tx_hash).where(Transfer.id.in_(transfer_ids))
        )
        hashes = {tid: tx for tid, tx in rows2}
    return [
        RefundItemOut(
            id=i.id,
            status=i.status,
            kind=i.kind,
            order_id=i.order_id,
            merchant_order_id=refs.get(i.order_id) if i.order_id else None,
            transfer_id=i.transfer_id,
            transfer_tx_hash=hashes.get(i.transfer_id),
            blockchain=i.blockchain,
            token=i.token,
            amount=format_base_units(i.amount, i.decimals),
            wallet_address=i.wallet_address,
            sender_address=i.sender_address,
            claim_address=i.claim_address,
            claimed_at=_ts(i.claimed_at),
            refund_tx_hash=i.refund_tx_hash,
            sent_at=_ts(i.sent_at),
            sent_evidence=i.sent_evidence,
            created_at=int(i.created_at.timestamp()),
        )
        for i in items
    ]


async def refund_item(session: AsyncSession, item_id: int) -> RefundItemOut:
    return (await refund_views(session, [await refunds.get_item(session, item_id)]))[0]


# -- actions


async def accept_as_paid(
    session: AsyncSession, order_id: uuid.UUID, *, actor: str, reason: str
) -> AdminOrder:
    """Pay an order that the rules left unpaid (short, partial, late), as an operator's move.

    What it received is credited to it, so its `late` and `expired_partial` refund items are
    withdrawn; one the shopper already claimed (or was refunded) refuses the move."""
    why = reason.strip()
    if not why:
        raise InvalidInput("a reason is required", param="reason")
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise OrderNotFound
    if order.status == OrderStatus.PAID:
        raise OrderAlreadyPaid
    owed = list(
        await session.scalars(
            sa.select(RefundItem)
            .where(RefundItem.order_id == order_id, RefundItem.kind.in_(WITHDRAWN_ON_ACCEPT))
            .with_for_update()
        )
    )
    settled = [i for i in owed if i.status != RefundStatus.OPEN]
    if settled:
        raise OrderRefundSettled(settled[0].id, settled[0].status)
    previous = order.status
    moved = await lifecycle.move(session, order_id, OrderStatus.PAID, operator_request(why))
    if moved is None:
        raise OrderAlreadyPaid
    if owed:
        await session.execute(sa.delete(RefundItem).where(RefundItem.id.in_([i.id for i in owed])))
    await record_action(
        session,
        actor,
        "order.accept_as_paid",
        str(order_id),
        why,
        {
            "from_status": previous,
            "amount_received": str(order.amount_received),
            "payment_exceptions": order.payment_exceptions,
            "withdrawn_refunds": [
                {"id": i.id, "kind": i.kind, "amount": str(i.amount)} for i in owed
            ],
        },
    )
    return await get_admin_order(session, order_id)


async def claim_link(
    session: AsyncSession, settings: Settings, item_id: int, base_url: str, *, actor: str
) -> ClaimLinkOut:
    """A signed claim link for an open item (a new one may be made at any time; each expires)."""
    item = await refunds.get_item(session, item_id)
    if item.status != RefundStatus.OPEN:
        raise RefundNotOpen(item_id, item.status)
    link = claims.make_link(settings, item, base_url)
    await record_action(
        session, actor, "refund.claim_link", str(item_id), None, {"expires_at": link.expires_at}
    )
    return ClaimLinkOut(refund_id=item_id, url=link.url, expires_at=link.expires_at)


def parse_tx_hash(blockchain: Blockchain, text: str) -> str:
    value = text.strip()
    family = CHAINS[blockchain].family
    if family is ChainFamily.EVM and _EVM_TX.match(value):
        return canonical_tx_id(value)
    if family is ChainFamily.TRON and _HEX_TX.match(value):
        return canonical_tx_id(value.removeprefix("0x").removeprefix("0X"))
    if family is ChainFamily.SOLANA and _BASE58_TX.match(value):
        return value
    raise InvalidInput(f"not a {blockchain} transaction id: {value[:90]!r}", param="tx_hash")


async def mark_refunded(
    services: Services, item_id: int, tx_text: str, *, actor: str, reason: str | None
) -> RefundItemOut:
    """Mark an item sent by the transaction an operator names.

    On an EVM chain with `rpc_urls`, the node's receipt must show a transfer of the coin from
    our wallet (the one that received the money) for the amount owed, to the claimed address when
    the shopper claimed one: evidence `receipt`. Elsewhere it is recorded as the operator's word
    (`operator`). The receipt is read between two transactions, never inside one."""
    settings = services.settings
    async with services.sessionmaker() as session:
        item = await refunds.get_item(session, item_id)
    if item.status == RefundStatus.SENT:
        raise RefundAlreadySent(item_id, item.refund_tx_hash or "")
    blockchain = Blockchain(item.blockchain)
    tx_hash = parse_tx_hash(blockchain, tx_text)
    found = await _receipt_transfers(services, blockchain, tx_hash)
    matches: list[receipts.LoggedTransfer] = []
    if found is not None:
        matches = [t for t in found if refunds.receipt_pays(settings, item, t)]
        if not matches:
            raise RefundNotInTransaction(
                tx_hash,
                format_base_units(item.amount, item.decimals),
                item.token,
                item.wallet_address,
                item.claim_address or "any address",
            )
    async with unit_of_work(services.sessionmaker, services.publisher) as session:
        used = await refunds.used_log_indexes(session, item.blockchain, tx_hash)
        pick = next((t for t in matches if t.log_index not in used), None)
        if found is not None and pick is None:
            raise RefundTransfersTaken(tx_hash)
        sent = await refunds.mark_sent(
            session,
            item_id,
            tx_hash=tx_hash,
            log_index=pick.log_index if pick else None,
            evidence=SentEvidence.RECEIPT if pick else SentEvidence.OPERATOR,
            to_address=_display_address(blockchain, pick.to_address) if pick else None,
            expected_claim=item.claim_address,
        )
        await record_action(
            session,
            actor,
            "refund.mark_refunded",
            str(item_id),
            reason,
            {
                "tx_hash": tx_hash,
                "evidence": sent.sent_evidence,
                "amount": str(item.amount),
                "to": sent.claim_address,
            },
        )
        return (await refund_views(session, [sent]))[0]


async def _receipt_transfers(
    services: Services, blockchain: Blockchain, tx_hash: str
) -> list[receipts.LoggedTransfer] | None:
    """The receipt's transfers on an EVM chain the config reads; None where none is read."""
    chain = services.settings.chains.get(blockchain)
    if CHAINS[blockchain].family is not ChainFamily.EVM or chain is None or not chain.rpc_urls:
        return None
    try:
        found = await receipts.evm_receipt_transfers(chain.rpc_urls, tx_hash)
    except receipts.NodeUnavailable as exc:
        raise NodeCheckUnavailable(str(blockchain), tx_hash, str(exc)) from None
    if found is None:
        raise TransactionUnknown(str(blockchain), tx_hash)
    return found


def _display_address(blockchain: Blockchain, lower: str) -> str:
    if CHAINS[blockchain].family is ChainFamily.EVM:
        from eth_utils.address import to_checksum_address

        return str(to_checksum_address(lower))
    return lower
