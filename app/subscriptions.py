"""Who reacts to which domain event: the whole map, in one place, in the order the subscribers run.

Loaded by `app.events` before the first event is recorded (and by the composition root), so a
domain emits without importing its listeners. Order matters only where a subscriber reads what
an earlier one wrote: deposits close before anything is reported.

    OrderStatusChanged   payments (deposits linger), refunds (an order ending partly paid lists
                         its parts; one paid after all takes them back), webhooks (Ocrch order
                         rows), dialects (Epusdt / Epay notify rows, paid orders only),
                         sessions (move the session → CheckoutSessionChanged), realtime (push)
    CheckoutSessionChanged  webhooks (session rows), dialects (OpenCheckout / OVGC rows)
    PaymentDetected      realtime (push "k of n confirmations")
    PaymentWithdrawn     realtime (push the order as it is)
    TransferUnmatched    webhooks (Ocrch unknown_transfer_received)
    PaymentExceptionRecorded  webhooks (`payment_exception`), realtime (a partly paid order's
                         page is pushed its remainder)
    RefundSent           webhooks (refund.sent to the order's webhook target)
"""

from __future__ import annotations

from app.dialects import common as dialects
from app.dialects import notify as dialect_notify
from app.dialects import opencheckout as _opencheckout  # noqa: F401 - registers its webhooks
from app.dialects import ovgc as _ovgc  # noqa: F401 - registers its webhooks
from app.events import subscribe
from app.orders.events import OrderStatusChanged
from app.payments import service as payments
from app.realtime import pushes
from app.refunds import order_endings as refunds
from app.refunds.events import RefundSent
from app.sessions import events as sessions
from app.transfers.events import (
    PaymentDetected,
    PaymentExceptionRecorded,
    PaymentWithdrawn,
    TransferUnmatched,
)
from app.webhooks import refunds as refund_webhooks
from app.webhooks import service as webhooks

subscribe(OrderStatusChanged, payments.on_order_ended)
subscribe(OrderStatusChanged, refunds.on_order_status_changed)
subscribe(OrderStatusChanged, webhooks.on_order_status_changed)
subscribe(OrderStatusChanged, dialect_notify.on_order_status_changed)
subscribe(OrderStatusChanged, sessions.on_order_status_changed)
subscribe(OrderStatusChanged, pushes.on_order_status_changed)
subscribe(sessions.CheckoutSessionChanged, webhooks.on_checkout_session_changed)
subscribe(sessions.CheckoutSessionChanged, dialects.on_checkout_session_changed)
subscribe(PaymentDetected, pushes.on_payment_detected)
subscribe(PaymentWithdrawn, pushes.on_payment_withdrawn)
subscribe(TransferUnmatched, webhooks.on_transfer_unmatched)
subscribe(PaymentExceptionRecorded, webhooks.on_payment_exception)
subscribe(PaymentExceptionRecorded, pushes.on_payment_exception)
subscribe(RefundSent, refund_webhooks.on_refund_sent)
