"""Typed views of what the server sends: orders, payment details, sessions and webhook events.

Plain frozen dataclasses built from the decoded JSON. Amounts stay decimal strings exactly as
sent (`"20.00"` stays `"20.00"`); `amount_decimal` gives a `Decimal`, never a float. Unknown
fields are ignored (the server only ever adds fields), and `raw` keeps the whole object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from stablecheckout_client.errors import InvalidResponseError

OrderStatus = Literal["pending", "paid", "expired", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"paid", "expired", "cancelled"})


def _obj(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidResponseError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def _get(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidResponseError(f"{what}: field {key!r} is missing or not {kind}")
    return value


def _opt(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _words(data: Mapping[str, Any], key: str) -> list[str]:
    """A list of strings (`payment_exceptions`); absent (an older server) is empty."""
    return [v for v in _opt(data, key, list) or [] if isinstance(v, str)]


@dataclass(frozen=True, slots=True)
class Order:
    """`OrderResponse`: Ocrch's five fields, then stablecheckout's additive ones."""

    order_id: str
    merchant_order_id: str
    amount: str
    status: str
    created_at: int
    expires_at: int | None = None
    metadata: dict[str, Any] | None = None
    success_url: str | None = None
    cancel_url: str | None = None
    transfer: dict[str, Any] | None = None
    confirmations: int | None = None
    required_confirmations: int | None = None
    amount_received: str | None = None
    """Everything linked to the order so far, in its units (docs/payments.md)."""
    amount_due: str | None = None
    """What is still to pay: `"0"` once paid."""
    payment_exceptions: list[str] = field(default_factory=list)
    """`underpaid`, `overpaid`, `partial`, `late`, `duplicate`."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def amount_decimal(self) -> Decimal:
        return Decimal(self.amount)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, data: Any) -> Order:
        d = _obj(data, "order")
        return cls(
            order_id=_get(d, "order_id", str, "order"),
            merchant_order_id=_get(d, "merchant_order_id", str, "order"),
            amount=_get(d, "amount", str, "order"),
            status=_get(d, "status", str, "order"),
            created_at=_get(d, "created_at", int, "order"),
            expires_at=_opt(d, "expires_at", int),
            metadata=_opt(d, "metadata", dict),
            success_url=_opt(d, "success_url", str),
            cancel_url=_opt(d, "cancel_url", str),
            transfer=_opt(d, "transfer", dict),
            confirmations=_opt(d, "confirmations", int),
            required_confirmations=_opt(d, "required_confirmations", int),
            amount_received=_opt(d, "amount_received", str),
            amount_due=_opt(d, "amount_due", str),
            payment_exceptions=_words(d, "payment_exceptions"),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class ChainCoinPair:
    blockchain: str
    stablecoin: str
    wallet_address: str

    @classmethod
    def from_json(cls, data: Any) -> ChainCoinPair:
        d = _obj(data, "chain")
        return cls(
            _get(d, "blockchain", str, "chain"),
            _get(d, "stablecoin", str, "chain"),
            _get(d, "wallet_address", str, "chain"),
        )


@dataclass(frozen=True, slots=True)
class PaymentDetail:
    """What the shopper must send: exactly `amount` of `stablecoin` on `blockchain`."""

    order_id: str
    wallet_address: str
    amount: str
    blockchain: str
    stablecoin: str
    amount_base_units: str | None = None
    decimals: int | None = None
    token_contract: str | None = None
    chain_id: int | None = None
    expires_at: int | None = None
    payment_uri: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> PaymentDetail:
        d = _obj(data, "payment detail")
        w = "payment detail"
        return cls(
            order_id=_get(d, "order_id", str, w),
            wallet_address=_get(d, "wallet_address", str, w),
            amount=_get(d, "amount", str, w),
            blockchain=_get(d, "blockchain", str, w),
            stablecoin=_get(d, "stablecoin", str, w),
            amount_base_units=_opt(d, "amount_base_units", str),
            decimals=_opt(d, "decimals", int),
            token_contract=_opt(d, "token_contract", str),
            chain_id=_opt(d, "chain_id", int),
            expires_at=_opt(d, "expires_at", int),
            payment_uri=_opt(d, "payment_uri", str),
        )


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    """A hosted Checkout Session; amounts are integer US cents."""

    id: str
    url: str | None
    mode: str
    status: str
    payment_status: str
    amount_total: int | None
    currency: str
    success_url: str
    cancel_url: str | None
    metadata: dict[str, str]
    order_id: str | None
    livemode: bool
    created: int
    expires_at: int
    completed_at: int | None
    client_reference_id: str | None = None
    customer_email: str | None = None
    line_items: list[dict[str, Any]] = field(default_factory=list)
    amount_received: int | None = None
    """What its order received, in the currency's minor units."""
    amount_due: int | None = None
    payment_exceptions: list[str] = field(default_factory=list)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> CheckoutSession:
        d = _obj(data, "checkout session")
        w = "checkout session"
        livemode = d.get("livemode")
        if not isinstance(livemode, bool):
            raise InvalidResponseError(f"{w}: field 'livemode' is missing or not a bool")
        return cls(
            id=_get(d, "id", str, w),
            url=_opt(d, "url", str),
            mode=_get(d, "mode", str, w),
            status=_get(d, "status", str, w),
            payment_status=_get(d, "payment_status", str, w),
            amount_total=_opt(d, "amount_total", int),
            currency=_get(d, "currency", str, w),
            success_url=_get(d, "success_url", str, w),
            cancel_url=_opt(d, "cancel_url", str),
            metadata=dict(_opt(d, "metadata", dict) or {}),
            order_id=_opt(d, "order_id", str),
            livemode=livemode,
            created=_get(d, "created", int, w),
            expires_at=_get(d, "expires_at", int, w),
            completed_at=_opt(d, "completed_at", int),
            client_reference_id=_opt(d, "client_reference_id", str),
            customer_email=_opt(d, "customer_email", str),
            line_items=list(_opt(d, "line_items", list) or []),
            amount_received=_opt(d, "amount_received", int),
            amount_due=_opt(d, "amount_due", int),
            payment_exceptions=_words(d, "payment_exceptions"),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class SessionList:
    data: list[CheckoutSession]
    has_more: bool

    @classmethod
    def from_json(cls, data: Any) -> SessionList:
        d = _obj(data, "session list")
        items = _get(d, "data", list, "session list")
        return cls([CheckoutSession.from_json(i) for i in items], bool(d.get("has_more")))


@dataclass(frozen=True, slots=True)
class OrderStatusChanged:
    """Ocrch `order_status_changed` webhook. Deduplicate on `event_id` (the
    `Stablecheckout-Event-Id` header) or on (`order_id`, `status`)."""

    order_id: str
    merchant_order_id: str
    status: str
    amount: str
    timestamp: int
    event_id: str | None = None
    amount_received: str | None = None
    amount_due: str | None = None
    payment_exceptions: list[str] = field(default_factory=list)
    event_type: Literal["order_status_changed"] = "order_status_changed"

    @property
    def amount_decimal(self) -> Decimal:
        return Decimal(self.amount)


@dataclass(frozen=True, slots=True)
class PaymentException:
    """`payment_exception`: a transfer to one of the order's deposits that was not simply its
    price (`kind`: `partial`, `underpaid`, `overpaid`, `late`, `duplicate`); `amount` is the
    transfer's, in coin units. Deduplicate on `event_id` or (`order_id`, `tx_hash`)."""

    order_id: str
    merchant_order_id: str
    kind: str
    amount: str
    blockchain: str
    stablecoin: str
    tx_hash: str
    timestamp: int
    event_id: str | None = None
    event_type: Literal["payment_exception"] = "payment_exception"

    @property
    def amount_decimal(self) -> Decimal:
        return Decimal(self.amount)


@dataclass(frozen=True, slots=True)
class RefundSent:
    """`refund.sent`: refund item `refund_id` (`kind` as listed: `overpaid`, `duplicate`, …) went
    out as `tx_hash` to `address`; `evidence` says who saw it (`watcher` or `operator`). From a
    Checkout Session event, `checkout_session` names the session and `timestamp` is `created`."""

    refund_id: int
    order_id: str
    merchant_order_id: str
    kind: str
    amount: str
    blockchain: str
    stablecoin: str
    address: str | None
    tx_hash: str | None
    evidence: str | None
    timestamp: int
    checkout_session: str | None = None
    event_id: str | None = None
    event_type: Literal["refund.sent"] = "refund.sent"

    @property
    def amount_decimal(self) -> Decimal:
        return Decimal(self.amount)


@dataclass(frozen=True, slots=True)
class UnknownTransferReceived:
    """A transfer to a merchant wallet that paid no order (`blockchain` like `erc20:Ethereum`)."""

    transfer_id: int
    blockchain: str
    timestamp: int
    event_id: str | None = None
    event_type: Literal["unknown_transfer_received"] = "unknown_transfer_received"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """A `checkout.session.*` event wrapping the session as it was when the event happened."""

    id: str
    type: str
    created: int
    livemode: bool
    session: CheckoutSession


@dataclass(frozen=True, slots=True)
class UnrecognizedEvent:
    """A correctly signed body of an event type this SDK version does not know yet."""

    event_type: str
    payload: Mapping[str, Any]
    event_id: str | None = None


# ---------------------------------------------------------------------------------------------
# The dialects' webhooks (docs/compatibility.md): each system's own shape, typed.


@dataclass(frozen=True, slots=True)
class OpenCheckoutSession:
    """The OpenCheckout dialect's session: seed 004's status words (`open`, `completed`,
    `expired`, `canceled`), ISO 8601 UTC times, amounts in cents."""

    id: str
    url: str | None
    mode: str
    status: str
    payment_status: str
    amount_total: int | None
    currency: str
    metadata: dict[str, Any]
    success_url: str
    cancel_url: str | None
    livemode: bool
    created_at: str
    expires_at: str
    completed_at: str | None = None
    customer_email: str | None = None
    line_items: list[dict[str, Any]] = field(default_factory=list)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> OpenCheckoutSession:
        d, w = _obj(data, "opencheckout session"), "opencheckout session"
        return cls(
            id=_get(d, "id", str, w),
            url=_opt(d, "url", str),
            mode=_get(d, "mode", str, w),
            status=_get(d, "status", str, w),
            payment_status=_get(d, "payment_status", str, w),
            amount_total=_opt(d, "amount_total", int),
            currency=_get(d, "currency", str, w),
            metadata=dict(_opt(d, "metadata", dict) or {}),
            success_url=_get(d, "success_url", str, w),
            cancel_url=_opt(d, "cancel_url", str),
            livemode=d.get("livemode") is True,
            created_at=_get(d, "created_at", str, w),
            expires_at=_get(d, "expires_at", str, w),
            completed_at=_opt(d, "completed_at", str),
            customer_email=_opt(d, "customer_email", str),
            line_items=list(_opt(d, "line_items", list) or []),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class OpenCheckoutEvent:
    """An OpenCheckout webhook: `status` and `metadata` on top (seed 000 fulfils on
    `status == "completed"` with `metadata["order_id"]`), the session under `session`."""

    id: str
    type: str
    status: str
    metadata: dict[str, Any]
    session_id: str
    created_at: str
    session: OpenCheckoutSession
    event_id: str | None = None
    event_type: Literal["opencheckout"] = "opencheckout"


@dataclass(frozen=True, slots=True)
class OvgcSession:
    """The OVGC dialect's session (seed 001): `amount` in minor units, statuses `pending`,
    `completed`, `expired`, `declined`; times as `YYYY-MM-DD HH:MM:SS` UTC."""

    id: str
    amount: int | None
    currency: str
    status: str
    email: str | None
    product_title: str | None
    metadata: dict[str, Any]
    success_url: str | None
    cancel_url: str | None
    created_at: str
    expires_at: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> OvgcSession:
        d, w = _obj(data, "ovgc session"), "ovgc session"
        return cls(
            id=_get(d, "id", str, w),
            amount=_opt(d, "amount", int),
            currency=_get(d, "currency", str, w),
            status=_get(d, "status", str, w),
            email=_opt(d, "email", str),
            product_title=_opt(d, "product_title", str),
            metadata=dict(_opt(d, "metadata", dict) or {}),
            success_url=_opt(d, "success_url", str),
            cancel_url=_opt(d, "cancel_url", str),
            created_at=_get(d, "created_at", str, w),
            expires_at=_get(d, "expires_at", str, w),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class OvgcEvent:
    """An OVGC webhook: `payment.succeeded` (paid) or `payment.declined` (the shopper
    cancelled), with the session as `GET /api/checkout-sessions/{id}` returns it."""

    id: str
    type: str
    created_at: str
    data: OvgcSession
    event_id: str | None = None
    event_type: Literal["ovgc"] = "ovgc"


@dataclass(frozen=True, slots=True)
class Seed002Event:
    """Seed 002's callback for an Ocrch order (`[webhooks].format = "seed002"`): `type` is
    `payment-authorized` when paid (`payment-expired`, `payment-cancelled` otherwise), `amount`
    an integer in the order's smallest unit, `session_id` the server's order id."""

    type: str
    amount: int
    payment_id: str
    session_id: str
    merchant_order_id: str | None = None
    event_id: str | None = None
    event_type: Literal["seed002"] = "seed002"

    @property
    def paid(self) -> bool:
        return self.type == "payment-authorized"


@dataclass(frozen=True, slots=True)
class EpusdtNotify:
    """An Epusdt notify callback (sent for paid orders only, `status` 2). `amount` is the fiat
    price as signed (decimal text), `actual_amount` what was paid in the coin, `token` the
    receiving address. Answer HTTP 200 with `ok` (`EPUSDT_ACK`), or it is sent again."""

    trade_id: str
    order_id: str
    amount: str
    actual_amount: str
    token: str
    block_transaction_id: str
    status: int
    event_id: str | None = None
    event_type: Literal["epusdt"] = "epusdt"

    @property
    def paid(self) -> bool:
        return self.status == 2


@dataclass(frozen=True, slots=True)
class EpayNotify:
    """An Epay notify callback (a GET, paid orders only): `money` is the text the order was
    submitted with, `type` as submitted. Answer HTTP 200 with `success` (`EPAY_ACK`)."""

    pid: str
    trade_no: str
    out_trade_no: str
    type: str
    name: str
    money: str
    trade_status: str
    param: str | None = None
    event_id: str | None = None
    event_type: Literal["epay"] = "epay"

    @property
    def paid(self) -> bool:
        return self.trade_status == "TRADE_SUCCESS"


WebhookEvent = (
    OrderStatusChanged
    | UnknownTransferReceived
    | PaymentException
    | RefundSent
    | SessionEvent
    | OpenCheckoutEvent
    | OvgcEvent
    | Seed002Event
    | EpusdtNotify
    | EpayNotify
    | UnrecognizedEvent
)
