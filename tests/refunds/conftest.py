"""Refund items made the way the payment rules make them (`add_items`), over a real database:
an order, the incoming transfer that brought the money, and the item listed for it."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work, utcnow
from app.ids import new_id
from app.models import Order, Transfer
from app.refunds.models import RefundKind
from app.refunds.service import NewItem, add_items
from tests.conftest import TEST_WALLET_ETH
from tests.watchers.conftest import (  # noqa: F401 - the anvil fixtures, for the on-chain tests
    anvil,
    anvil_binary,
    token,
    w3,
)

SENDER_ETH = "0x28C6c06298d514Db089934071355E5743bf21d60"
"""An exchange hot wallet: shown on the page, never the refund target."""
CONTRACT = {"eth": "0xdAC17F958D2ee523a2206206994597C13D831ec7"}
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def tron_address(seed: bytes) -> str:
    """A valid base58check TRON address for 20 bytes derived from `seed` (test data only)."""
    raw = b"\x41" + hashlib.sha256(seed).digest()[:20]
    full = raw + hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    number = int.from_bytes(full, "big")
    text = ""
    while number:
        number, digit = divmod(number, 58)
        text = _BASE58[digit] + text
    return text


@dataclass(frozen=True)
class Seeded:
    item_id: int
    order_id: uuid.UUID | None
    transfer_id: int


async def seed_refund(
    db: async_sessionmaker[AsyncSession],
    *,
    kind: RefundKind = RefundKind.OVERPAID,
    amount: int = 1_500_000,
    blockchain: str = "eth",
    coin: str = "USDT",
    wallet: str = TEST_WALLET_ETH,
    sender: str = SENDER_ETH,
    webhook_url: str = "https://shop.example.com/hooks/ocrch",
    order_status: str = "paid",
    with_order: bool = True,
    merchant_order_id: str | None = None,
    integration: str = "ocrch",
) -> Seeded:
    """One order (unless `with_order` is false), its transfer, and a refund item for it."""
    now = utcnow()
    async with unit_of_work(db) as session:
        order_id = None
        if with_order:
            order = Order(
                id=new_id(),
                merchant_order_id=merchant_order_id or f"shop-{uuid.uuid4().hex[:8]}",
                amount_units=10,
                amount_scale=0,
                status=order_status,
                webhook_url=webhook_url,
                created_at=now,
                updated_at=now,
                expires_at=now + dt.timedelta(minutes=30),
                paid_at=now if order_status == "paid" else None,
                integration=integration,
            )
            session.add(order)
            await session.flush()
            order_id = order.id
        transfer = Transfer(
            blockchain=blockchain,
            token=coin,
            contract_address=CONTRACT.get(blockchain, "c"),
            tx_hash=("0x" if blockchain != "tron" else "") + uuid.uuid4().hex * 2,
            log_index=0,
            from_address=sender,
            to_address=wallet,
            amount=10_000_000 + amount,
            block_number=100,
            block_hash="0x" + "b" * 64,
            block_time=now - dt.timedelta(minutes=1),
            status="matched" if with_order else "no_matched_deposit",
            confirmed=True,
            order_id=order_id,
            exception=str(kind) if kind in (RefundKind.OVERPAID, RefundKind.DUPLICATE) else None,
        )
        session.add(transfer)
        await session.flush()
        added = await add_items(
            session,
            [
                NewItem(
                    transfer_id=transfer.id,
                    kind=kind,
                    blockchain=blockchain,
                    token=coin,
                    wallet_address=wallet,
                    sender_address=sender,
                    amount=amount,
                    decimals=6,
                    order_id=order_id,
                )
            ],
        )
        assert added == 1
        from app.refunds.service import items_for_transfers

        (item,) = await items_for_transfers(session, [transfer.id])
        return Seeded(item.id, order_id, transfer.id)
