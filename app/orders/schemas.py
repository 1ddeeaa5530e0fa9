"""Wire types of the Service API (api.md §2) and the order object every API returns."""

from __future__ import annotations

import math
import uuid
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.chains import Blockchain, Coin
from app.money import Amount, AmountError, is_formattable
from app.orders.models import OrderStatus


def _wire_amount(value: Any) -> Any:
    """A decimal string or JSON number; anything else fails to deserialize, as in Ocrch."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError("amount must be a decimal string or number")
    if isinstance(value, Decimal) and not is_formattable(value):
        raise ValueError("amount is out of range")
    text = value if isinstance(value, str) else format(Decimal(value), "f")
    negative = text.startswith("-")
    try:
        Amount.parse(text[1:] if negative else text)
    except AmountError as exc:
        raise ValueError(str(exc)) from None
    return text


WireAmount = Annotated[str, BeforeValidator(_wire_amount)]


def _plain_numbers(value: Any) -> Any:
    """Metadata is opaque and stored as JSON: its decimals become what a JSON library reads
    (int or double), as Ocrch's serde_json does; `Decimal` would not serialize (a 500)."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("metadata numbers must fit a double")
        return number
    if isinstance(value, dict):
        return {key: _plain_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(item) for item in value]
    return value


Metadata = Annotated[dict[str, Any] | None, BeforeValidator(_plain_numbers)]


class CreateOrderRequest(BaseModel):
    """Ocrch's create-order body plus our optional additions (all ignorable by Ocrch clients)."""

    model_config = ConfigDict(extra="ignore")

    order_id: str
    amount: WireAmount
    webhook_url: str
    expecting_wallet_address: str | None = None
    blockchain: Blockchain | None = None
    stablecoin: Coin | None = None
    currency: str | None = Field(
        default=None,
        description="ISO 4217 code (e.g. EUR): `amount` is a fiat price, quoted per coin.",
    )
    expires_in: int | None = Field(default=None, description="Seconds until the order expires.")
    metadata: Metadata = None
    success_url: str | None = None
    cancel_url: str | None = None
    transfer: dict[str, Any] | None = None
    """While a payment is confirming: the transfer seen on chain (User API only)."""
    confirmations: int | None = None
    required_confirmations: int | None = None


class OrderStatusRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    order_id: uuid.UUID


class OrderResponse(BaseModel):
    """Ocrch's `OrderResponse`, with additive fields after the five it requires."""

    order_id: uuid.UUID
    merchant_order_id: str
    amount: str
    status: OrderStatus
    created_at: int
    expires_at: int
    currency: str | None = None
    """ISO 4217 code of a fiat-priced order's `amount`; null: `amount` is in coin units."""
    metadata: dict[str, Any] | None = None
    success_url: str | None = None
    cancel_url: str | None = None
    transfer: dict[str, Any] | None = None
    """While a payment is confirming: the transfer seen on chain (User API only)."""
    confirmations: int | None = None
    required_confirmations: int | None = None
    payment: dict[str, Any] | None = None
    """The deposit to pay now, for a fiat order (with its locked `quote`) and for an order
    partly paid (the remainder): User API status and WebSocket."""
    amount_received: str = "0"
    """Everything linked to the order so far (late and repeat payments included), in the order's
    units."""
    amount_due: str | None = None
    """What is still to pay ("0" once paid, never negative)."""
    payment_exceptions: list[str] = Field(default_factory=list)
    """How the payment departed from the exact amount: underpaid, overpaid, partial, late,
    duplicate (docs/payments.md)."""
