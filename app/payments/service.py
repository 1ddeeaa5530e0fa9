"""Deposit rules: what happens to the amounts an order reserved when the order ends."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.orders.models import Order, OrderStatus
from app.payments.models import Deposit, DepositStatus


async def close_order_deposits(session: AsyncSession, order: Order) -> None:
    """Stop offering an ended order's deposits.

    Paid: the unmatched ones are released at once. Expired or cancelled: they linger, still
    reserved until `reserved_until`, so a late payment is linked to this order, never another.
    """
    target = DepositStatus.RELEASED if order.status == OrderStatus.PAID else DepositStatus.LINGERING
    await session.execute(
        sa.update(Deposit)
        .where(Deposit.order_id == order.id, Deposit.status == DepositStatus.ACTIVE)
        .values(status=target)
        .execution_options(synchronize_session=False)
    )


async def release_lapsed_reservations(session: AsyncSession) -> int:
    """Free the amounts of ended orders whose late-payment window has passed."""
    result = await session.execute(
        sa.update(Deposit)
        .where(Deposit.status == DepositStatus.LINGERING, Deposit.reserved_until <= utcnow())
        .values(status=DepositStatus.RELEASED)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
