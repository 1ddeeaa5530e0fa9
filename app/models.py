"""Every table, imported in one place so Alembic and tests see the whole schema."""

from app.admin.models import AdminAction
from app.db import Base
from app.leases import Lease
from app.orders.models import IdempotencyKey, Order
from app.payments.models import Deposit
from app.refunds.models import RefundItem
from app.sessions.models import ApiKey, CheckoutSession
from app.transfers.models import ChainBlock, ChainCursor, Transfer
from app.webhooks.models import WebhookAttempt, WebhookEvent

__all__ = [
    "AdminAction",
    "ApiKey",
    "Base",
    "ChainBlock",
    "ChainCursor",
    "CheckoutSession",
    "Deposit",
    "IdempotencyKey",
    "Lease",
    "Order",
    "RefundItem",
    "Transfer",
    "WebhookAttempt",
    "WebhookEvent",
]
