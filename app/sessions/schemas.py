"""Wire types of the Checkout Sessions API: Stripe's and OpenCheckout's names, USD cents as ints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from app.orders.models import RECEIVED_DECIMALS, OrderStatus, parse_exceptions
from app.orders.rows import OrderView
from app.sessions.models import CheckoutSession

MAX_AMOUNT_CENTS = 99_999_999_99
"""$99,999,999.99, as Stripe caps a session."""
MAX_LINE_ITEMS = 100
MAX_METADATA_KEYS = 50


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductData(_Strict):
    name: StrictStr = Field(min_length=1, max_length=250)
    description: StrictStr | None = Field(default=None, max_length=1000)
    images: list[StrictStr] | None = Field(default=None, max_length=8)


class PriceData(_Strict):
    currency: StrictStr = Field(min_length=3, max_length=3)
    product_data: ProductData
    unit_amount: StrictInt = Field(ge=0, le=MAX_AMOUNT_CENTS, description="Cents.")


class LineItem(_Strict):
    price_data: PriceData
    quantity: StrictInt = Field(default=1, ge=1, le=10_000)


class CreateSessionRequest(_Strict):
    """`POST /api/v1/checkout/sessions`: Stripe/OpenCheckout fields, or OVGC's plain `amount`."""

    mode: StrictStr = Field(default="payment", description="`payment` or `donation`.")
    line_items: list[LineItem] | None = Field(default=None, max_length=MAX_LINE_ITEMS)
    amount: StrictInt | None = Field(
        default=None, ge=0, le=MAX_AMOUNT_CENTS, description="Cents, instead of `line_items`."
    )
    currency: StrictStr | None = Field(default=None, min_length=3, max_length=3)
    product_title: StrictStr | None = Field(default=None, min_length=1, max_length=250)
    amount_min: StrictInt | None = Field(default=None, ge=1, le=MAX_AMOUNT_CENTS)
    amount_max: StrictInt | None = Field(default=None, ge=1, le=MAX_AMOUNT_CENTS)
    success_url: StrictStr
    cancel_url: StrictStr | None = None
    customer_email: StrictStr | None = Field(default=None, max_length=320)
    email: StrictStr | None = Field(default=None, max_length=320, description="OVGC's name.")
    client_reference_id: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, StrictStr | StrictInt] | None = None
    expires_at: StrictInt | None = Field(default=None, description="Unix time.")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str | int] | None) -> dict[str, str | int] | None:
        if value is None:
            return None
        if len(value) > MAX_METADATA_KEYS:
            raise ValueError(f"at most {MAX_METADATA_KEYS} keys")
        for key, item in value.items():
            if not 1 <= len(key) <= 40:
                raise ValueError("keys must be 1 to 40 characters")
            if len(str(item)) > 500:
                raise ValueError("values must be at most 500 characters")
        return value


class SessionOut(BaseModel):
    """A checkout session as every endpoint and webhook shows it."""

    id: str
    object: Literal["checkout.session"] = "checkout.session"
    url: str | None = Field(description="The hosted page; present while the session is open.")
    mode: str
    status: str = Field(description="open, complete, expired or canceled.")
    payment_status: str = Field(description="unpaid or paid.")
    amount_total: int | None = Field(description="Cents; a donation's once chosen.")
    amount_min: int | None = None
    amount_max: int | None = None
    currency: str
    line_items: list[dict[str, Any]]
    success_url: str
    cancel_url: str | None
    customer_email: str | None
    client_reference_id: str | None
    metadata: dict[str, str]
    order_id: str | None = Field(description="The order behind the session (Ocrch order id).")
    livemode: bool
    created: int
    expires_at: int
    completed_at: int | None
    amount_received: int | None = Field(
        default=None,
        description="What the session's order received (late and repeat payments included), "
        "in the currency's minor units, rounded down; null before it has an order.",
    )
    amount_due: int | None = Field(
        default=None, description="What is still to pay, minor units (0 once paid)."
    )
    payment_exceptions: list[str] = Field(
        default_factory=list,
        description="underpaid, overpaid, partial, late, duplicate (docs/payments.md).",
    )


class SessionList(BaseModel):
    object: Literal["list"] = "list"
    url: str = "/api/v1/checkout/sessions"
    has_more: bool
    data: list[SessionOut]


def receipt_in_minor_units(order: OrderView) -> dict[str, Any]:
    """The order's receipt fields in the session's terms (minor units of its currency)."""
    received = order.amount_received // 10 ** (RECEIVED_DECIMALS - order.amount_scale)
    paid = order.status == OrderStatus.PAID
    return {
        "amount_received": received,
        "amount_due": 0 if paid else max(0, order.amount_units - received),
        "payment_exceptions": parse_exceptions(order.payment_exceptions),
    }


def session_out(
    cs: CheckoutSession, page_url: str | None, order: OrderView | None = None
) -> SessionOut:
    """`page_url` is the session's `url`; shown only while the session is open (as Stripe).
    With its `order`, the session also shows what the order received."""
    return SessionOut(
        id=cs.id,
        url=page_url if cs.is_open else None,
        mode=cs.mode,
        status=cs.status,
        payment_status=cs.payment_status,
        amount_total=cs.amount_total,
        amount_min=cs.amount_min,
        amount_max=cs.amount_max,
        currency=cs.currency,
        line_items=cs.line_items,
        success_url=cs.success_url,
        cancel_url=cs.cancel_url,
        customer_email=cs.customer_email,
        client_reference_id=cs.client_reference_id,
        metadata=cs.metadata_ or {},
        order_id=str(cs.order_id) if cs.order_id else None,
        livemode=cs.livemode,
        created=int(cs.created_at.timestamp()),
        expires_at=int(cs.expires_at.timestamp()),
        completed_at=int(cs.completed_at.timestamp()) if cs.completed_at else None,
        **(receipt_in_minor_units(order) if order is not None else {}),
    )
