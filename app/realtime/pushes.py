"""What pages are told, as subscribers of domain events: every order status change, a payment
detected (and each new confirmation), a payment a reorg took back, a part payment received (the
order with its remainder deposit as `payment`). Each push is queued on the
transaction (`app.realtime.changes`) and published only after it commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.events import OrderStatusChanged
from app.orders.models import OrderStatus, PaymentException
from app.orders.service import order_body, order_message, progress_fields
from app.payments.quotes import payment_fields_of
from app.realtime.changes import order_changed
from app.transfers.events import PaymentDetected, PaymentExceptionRecorded, PaymentWithdrawn


def detected_message(event: PaymentDetected) -> dict[str, Any]:
    body = order_body(event.order)
    head = event.transfer.block_number + event.confirmations - 1
    body.update(progress_fields(event.transfer, head, event.required))
    return {"type": "status_update", "order": body}


async def on_order_status_changed(
    session: AsyncSession, changes: Sequence[OrderStatusChanged]
) -> None:
    for change in changes:
        order_changed(session, change.order.id, order_message(change.order))


async def on_payment_detected(session: AsyncSession, detected: Sequence[PaymentDetected]) -> None:
    partly_paid = [
        e.order
        for e in detected
        if e.order.amount_received and e.order.status == OrderStatus.PENDING
    ]
    payments = await payment_fields_of(session, partly_paid)
    for event in detected:
        message = detected_message(event)
        message["order"].update(payments.get(event.order.id, {}))
        order_changed(session, event.order.id, message)


async def on_payment_exception(
    session: AsyncSession, flagged: Sequence[PaymentExceptionRecorded]
) -> None:
    """A part payment leaves the order pending: its page is told what arrived and what to send
    now (the other kinds end in a status change, pushed by `on_order_status_changed`)."""
    parts = [
        e
        for e in flagged
        if e.kind == PaymentException.PARTIAL and e.order.status == OrderStatus.PENDING
    ]
    payments = await payment_fields_of(session, [e.order for e in parts])
    for event in parts:
        body = order_body(event.order)
        body.update(payments.get(event.order.id, {}))
        order_changed(session, event.order.id, {"type": "status_update", "order": body})


async def on_payment_withdrawn(
    session: AsyncSession, withdrawn: Sequence[PaymentWithdrawn]
) -> None:
    for event in withdrawn:
        order_changed(session, event.order.id, order_message(event.order))
