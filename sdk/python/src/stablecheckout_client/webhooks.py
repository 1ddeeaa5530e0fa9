"""Verifying what the server POSTs to you, before you trust a byte of it: the formats of our own
APIs, and what every format shares (`WebhookFormat`, a case-insensitive header lookup).

* Ocrch order webhooks (`order_status_changed`, `unknown_transfer_received`) and our additive
  ones in that format (`payment_exception`, `refund.sent`), signed with `Ocrch-Signature` and the
  merchant secret;
* Checkout Session events (`checkout.session.*`, `refund.sent`), signed with
  `Stablecheckout-Signature` and the session webhook secret (`[checkout_sessions].webhook_secret`,
  a separate `whsec_…` secret).

The dialects' formats are in `webhooks_dialects` (OpenCheckout, OVGC, seed 002) and `md5`
(Epusdt, Epay); `verifier.WebhookVerifier` serves several formats on one endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from stablecheckout_client import signing
from stablecheckout_client.errors import InvalidResponseError, WebhookVerificationError
from stablecheckout_client.models import (
    CheckoutSession,
    OrderStatusChanged,
    PaymentException,
    RefundSent,
    SessionEvent,
    UnknownTransferReceived,
    UnrecognizedEvent,
    WebhookEvent,
)

OCRCH_HEADER = "Ocrch-Signature"
SESSION_HEADER = "Stablecheckout-Signature"
EVENT_ID_HEADER = "Stablecheckout-Event-Id"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup in any mapping of headers (a dict, Starlette, Django, Flask)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, found in headers.items():
        if key.lower() == wanted:
            return found
    return None


@runtime_checkable
class WebhookFormat(Protocol):
    """One signed webhook format: recognise it by its headers, verify it, parse the event."""

    def matches(self, headers: Mapping[str, str]) -> bool: ...

    def verify(
        self, headers: Mapping[str, str], body: bytes, *, now: int | None = None
    ) -> WebhookEvent: ...


@contextmanager
def unverified_on_error() -> Iterator[None]:
    """A bad signature (`ValueError` from `signing`) or a signed body that is not what its format
    promises (`InvalidResponseError`) refuses the webhook with `WebhookVerificationError`."""
    try:
        yield
    except (ValueError, InvalidResponseError) as exc:
        raise WebhookVerificationError(str(exc)) from None


def json_object(body: bytes, *, parse_float: Callable[[str], Any] = float) -> dict[str, Any]:
    try:
        data = json.loads(body, parse_float=parse_float)
    except (ValueError, UnicodeDecodeError):
        raise WebhookVerificationError("the signed body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookVerificationError("the signed body is not a JSON object")
    return data


def verify_ocrch_webhook(
    secret: str,
    signature: str | None,
    body: bytes,
    *,
    event_id: str | None = None,
    tolerance: int = signing.TOLERANCE_SECONDS,
    now: int | None = None,
) -> (
    OrderStatusChanged | UnknownTransferReceived | PaymentException | RefundSent | UnrecognizedEvent
):
    """Verify an `Ocrch-Signature` webhook over the raw `body` and parse its event."""
    with unverified_on_error():
        signing.verify_body_signature(secret, signature, body, tolerance=tolerance, now=now)
    data = json_object(body)
    kind = data.get("event_type")
    if kind == "order_status_changed":
        return OrderStatusChanged(
            order_id=required(data, "order_id", str),
            merchant_order_id=required(data, "merchant_order_id", str),
            status=required(data, "status", str),
            amount=required(data, "amount", str),
            timestamp=required(data, "timestamp", int),
            event_id=event_id,
            amount_received=_str(data.get("amount_received")),
            amount_due=_str(data.get("amount_due")),
            payment_exceptions=_strs(data.get("payment_exceptions")),
        )
    if kind == "unknown_transfer_received":
        return UnknownTransferReceived(
            transfer_id=required(data, "transfer_id", int),
            blockchain=required(data, "blockchain", str),
            timestamp=required(data, "timestamp", int),
            event_id=event_id,
        )
    if kind == "payment_exception":
        return PaymentException(
            order_id=required(data, "order_id", str),
            merchant_order_id=required(data, "merchant_order_id", str),
            kind=required(data, "kind", str),
            amount=required(data, "amount", str),
            blockchain=required(data, "blockchain", str),
            stablecoin=required(data, "stablecoin", str),
            tx_hash=required(data, "tx_hash", str),
            timestamp=required(data, "timestamp", int),
            event_id=event_id,
        )
    if kind == "refund.sent":
        return refund_sent(data, required(data, "timestamp", int), event_id=event_id)
    return UnrecognizedEvent(str(kind), data, event_id)


def refund_sent(
    fields: Mapping[str, Any],
    timestamp: int,
    *,
    checkout_session: str | None = None,
    event_id: str | None = None,
) -> RefundSent:
    """A `refund.sent` from its refund fields (an Ocrch body, or a session event's object)."""
    return RefundSent(
        refund_id=required(fields, "refund_id", int),
        order_id=required(fields, "order_id", str),
        merchant_order_id=required(fields, "merchant_order_id", str),
        kind=required(fields, "kind", str),
        amount=required(fields, "amount", str),
        blockchain=required(fields, "blockchain", str),
        stablecoin=required(fields, "stablecoin", str),
        address=_str(fields.get("address")),
        tx_hash=_str(fields.get("tx_hash")),
        evidence=_str(fields.get("evidence")),
        timestamp=timestamp,
        checkout_session=checkout_session,
        event_id=event_id,
    )


def verify_session_webhook(
    secret: str,
    signature: str | None,
    body: bytes,
    *,
    event_id: str | None = None,
    tolerance: int = signing.TOLERANCE_SECONDS,
    now: int | None = None,
) -> SessionEvent | RefundSent | UnrecognizedEvent:
    """Verify a `Stablecheckout-Signature` event with the session webhook secret and parse it.
    The event's own `id` identifies it (`event_id`, the header's copy, is not needed)."""
    with unverified_on_error():
        signing.verify_session_signature(secret, signature, body, tolerance=tolerance, now=now)
    data = json_object(body)
    kind = data.get("type")
    obj = data.get("data", {}).get("object") if isinstance(data.get("data"), dict) else None
    if kind == "refund.sent" and isinstance(obj, dict):
        return refund_sent(
            obj,
            required(data, "created", int),
            checkout_session=_str(obj.get("checkout_session")),
            event_id=required(data, "id", str),
        )
    if not (isinstance(kind, str) and kind.startswith("checkout.session.")):
        return UnrecognizedEvent(str(kind), data, _str(data.get("id")))
    with unverified_on_error():
        session = CheckoutSession.from_json(obj)
    return SessionEvent(
        id=required(data, "id", str),
        type=kind,
        created=required(data, "created", int),
        livemode=bool(data.get("livemode")),
        session=session,
    )


@dataclass(frozen=True, slots=True)
class HeaderFormat:
    """A format recognised by its signature header (`HEADER`) and keyed with one secret, checked
    by its `verify_…` function (`VERIFY`, called with the header's value) unless a subclass says
    otherwise (`check`). Timestamps older than `tolerance` are refused where the scheme has one."""

    HEADER: ClassVar[str] = ""
    VERIFY: ClassVar[Callable[..., WebhookEvent]]
    secret: str
    tolerance: int = signing.TOLERANCE_SECONDS

    def matches(self, headers: Mapping[str, str]) -> bool:
        return header(headers, self.HEADER) is not None

    def verify(
        self, headers: Mapping[str, str], body: bytes, *, now: int | None = None
    ) -> WebhookEvent:
        return self.check(headers, body, header(headers, EVENT_ID_HEADER), now)

    def check(
        self, headers: Mapping[str, str], body: bytes, event_id: str | None, now: int | None
    ) -> WebhookEvent:
        signature = header(headers, self.HEADER)
        return type(self).VERIFY(
            self.secret, signature, body, event_id=event_id, tolerance=self.tolerance, now=now
        )


class OcrchWebhookFormat(HeaderFormat):
    """Order webhooks: `Ocrch-Signature`, keyed with `[merchant].secret`."""

    HEADER = OCRCH_HEADER
    VERIFY = verify_ocrch_webhook


class SessionWebhookFormat(HeaderFormat):
    """Checkout Session events: `Stablecheckout-Signature`, keyed with the session secret."""

    HEADER = SESSION_HEADER
    VERIFY = verify_session_webhook


def required(data: Mapping[str, Any], key: str, kind: type) -> Any:
    """A required field of a signed body; a missing or mistyped one refuses the webhook."""
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise WebhookVerificationError(f"webhook: field {key!r} is missing or not {kind.__name__}")
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strs(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
