"""What pages are told, as subscribers of domain events: every order status change, a payment
detected (and each new confirmation), a payment a reorg took back. Each push is queued on the
transaction (`app.realtime.changes`) and published only after it commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.events import OrderStatusChanged
from app.orders.service import order_message, order_response, progress_fields
from app.realtime.changes import order_changed
from app.transfers.events import PaymentDetected, PaymentWithdrawn


def detected_message(event: PaymentDetected) -> dict[str, Any]:
    body = order_response(event.order).model_dump(mode="json")
    head = event.transfer.block_number + event.confirmations - 1
    body.update(progress_fields(event.transfer, head, event.required))
    return {"type": "status_update", "order": body}


async def on_order_status_changed(
    session: AsyncSession, changes: Sequence[OrderStatusChanged]
) -> None:
    for change in changes:
        order_changed(session, change.order.id, order_message(change.order))


async def on_payment_detected(session: AsyncSession, detected: Sequence[PaymentDetected]) -> None:
    for event in detected:
        order_changed(session, event.order.id, detected_message(event))


async def on_payment_withdrawn(
    session: AsyncSession, withdrawn: Sequence[PaymentWithdrawn]
) -> None:
    for event in withdrawn:
        order_changed(session, event.order.id, order_message(event.order))
