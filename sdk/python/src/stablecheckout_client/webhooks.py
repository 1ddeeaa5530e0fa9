"""Verifying what the server POSTs to you, before you trust a byte of it: the formats of our own
APIs, and what every format shares (`WebhookFormat`, a case-insensitive header lookup).

* Ocrch order webhooks (`order_status_changed`, `unknown_transfer_received`), signed with
  `Ocrch-Signature` and the merchant secret;
* Checkout Session events (`checkout.session.*`), signed with `Stablecheckout-Signature` and the
  session webhook secret (`[checkout_sessions].webhook_secret`, a separate `whsec_…` secret).

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
) -> OrderStatusChanged | UnknownTransferReceived | UnrecognizedEvent:
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
        )
    if kind == "unknown_transfer_received":
        return UnknownTransferReceived(
            transfer_id=required(data, "transfer_id", int),
            blockchain=required(data, "blockchain", str),
            timestamp=required(data, "timestamp", int),
            event_id=event_id,
        )
    return UnrecognizedEvent(str(kind), data, event_id)


def verify_session_webhook(
    secret: str,
    signature: str | None,
    body: bytes,
    *,
    tolerance: int = signing.TOLERANCE_SECONDS,
    now: int | None = None,
) -> SessionEvent | UnrecognizedEvent:
    """Verify a `Stablecheckout-Signature` event with the session webhook secret and parse it."""
    with unverified_on_error():
        signing.verify_session_signature(secret, signature, body, tolerance=tolerance, now=now)
    data = json_object(body)
    kind = data.get("type")
    obj = data.get("data", {}).get("object") if isinstance(data.get("data"), dict) else None
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
    """A format recognised by its signature header (`HEADER`) and keyed with one secret; a
    subclass says how it verifies (`check`). Timestamps older than `tolerance` are refused where
    the scheme has one."""

    HEADER: ClassVar[str] = ""
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
        raise NotImplementedError


class OcrchWebhookFormat(HeaderFormat):
    """Order webhooks: `Ocrch-Signature`, keyed with `[merchant].secret`."""

    HEADER = OCRCH_HEADER

    def check(
        self, headers: Mapping[str, str], body: bytes, event_id: str | None, now: int | None
    ) -> WebhookEvent:
        signature = header(headers, OCRCH_HEADER)
        return verify_ocrch_webhook(
            self.secret, signature, body, event_id=event_id, tolerance=self.tolerance, now=now
        )


class SessionWebhookFormat(HeaderFormat):
    """Checkout Session events: `Stablecheckout-Signature`, keyed with the session secret."""

    HEADER = SESSION_HEADER

    def check(
        self, headers: Mapping[str, str], body: bytes, event_id: str | None, now: int | None
    ) -> WebhookEvent:
        signature = header(headers, SESSION_HEADER)
        return verify_session_webhook(
            self.secret, signature, body, tolerance=self.tolerance, now=now
        )


def required(data: Mapping[str, Any], key: str, kind: type) -> Any:
    """A required field of a signed body; a missing or mistyped one refuses the webhook."""
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise WebhookVerificationError(f"webhook: field {key!r} is missing or not {kind.__name__}")
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
