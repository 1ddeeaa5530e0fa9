"""What the order lifecycle announces. Other domains subscribe to these (`app.subscriptions`):
deposits close, webhooks are written, checkout sessions move, pages are pushed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.events import DomainEvent
from app.orders.rows import OrderView


class Actor(StrEnum):
    """Who asks for a transition; a guard may allow a move to one actor and not another."""

    SHOPPER = "shopper"
    SWEEPER = "sweeper"
    CHAIN = "chain"
    OPERATOR = "operator"
    MERCHANT = "merchant"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatusChanged(DomainEvent):
    """The order (as it now is, after the conditional UPDATE) moved to a new status."""

    order: OrderView
    by: Actor


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPaid(OrderStatusChanged):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderExpired(OrderStatusChanged):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelled(OrderStatusChanged):
    pass
