"""The refund list following orders (a subscriber of the lifecycle's events, `app.subscriptions`).

An order that ends unpaid after parts of its price arrived (expired, or cancelled by the shopper)
owes those parts back: each credited transfer is listed as `expired_partial`. An order paid after
all (a payment made in time but confirmed after expiry, an operator's mark-paid) keeps them:
their open items are taken off the list, since the order is now credited with that money.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.events import OrderPaid, OrderStatusChanged
from app.orders.models import PaymentException
from app.payments.models import Deposit
from app.refunds.models import RefundKind
from app.refunds.service import NewItem, add_items, open_items, withdraw
from app.transfers.models import Transfer, TransferStatus


def _partly_paid(change: OrderStatusChanged) -> bool:
    return PaymentException.PARTIAL in (change.order.payment_exceptions or "").split(",")


async def on_order_status_changed(
    session: AsyncSession, changes: Sequence[OrderStatusChanged]
) -> None:
    partly = [c for c in changes if _partly_paid(c)]
    if not partly:
        return
    paid = [c.order.id for c in partly if isinstance(c, OrderPaid)]
    ended = [c.order.id for c in partly if not isinstance(c, OrderPaid)]
    if paid:
        held = await open_items(session, paid, RefundKind.EXPIRED_PARTIAL)
        await withdraw(session, [item.id for items in held.values() for item in items])
    if ended:
        rows = await session.execute(
            sa.select(Transfer, Deposit.decimals)
            .join(Deposit, Deposit.id == Transfer.deposit_id)
            .where(Transfer.order_id.in_(ended), Transfer.status == TransferStatus.MATCHED)
        )
        await add_items(
            session,
            [
                NewItem(
                    transfer_id=transfer.id,
                    kind=RefundKind.EXPIRED_PARTIAL,
                    blockchain=transfer.blockchain,
                    token=transfer.token,
                    wallet_address=transfer.to_address,
                    sender_address=transfer.from_address,
                    amount=transfer.amount,
                    decimals=decimals,
                    order_id=transfer.order_id,
                )
                for transfer, decimals in rows.all()
            ],
        )
