"""Verifying what the server POSTs to you, before you trust a byte of it.

Two formats are sent today:

* Ocrch order webhooks (`order_status_changed`, `unknown_transfer_received`), signed with
  `Ocrch-Signature` and the merchant secret;
* Checkout Session events (`checkout.session.*`), signed with `Stablecheckout-Signature` and the
  session webhook secret (`[checkout_sessions].webhook_secret`, a separate `whsec_…` secret).

Each is a `WebhookFormat`; `WebhookVerifier` picks the one whose signature header is present. A
format for another protocol (a dialect's notify callback) is one more class with `matches` and
`verify`, registered on the verifier: nothing here changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
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
    try:
        signing.verify_body_signature(secret, signature, body, tolerance=tolerance, now=now)
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from None
    data = _json_object(body)
    kind = data.get("event_type")
    try:
        if kind == "order_status_changed":
            return OrderStatusChanged(
                order_id=_field(data, "order_id", str),
                merchant_order_id=_field(data, "merchant_order_id", str),
                status=_field(data, "status", str),
                amount=_field(data, "amount", str),
                timestamp=_field(data, "timestamp", int),
                event_id=event_id,
            )
        if kind == "unknown_transfer_received":
            return UnknownTransferReceived(
                transfer_id=_field(data, "transfer_id", int),
                blockchain=_field(data, "blockchain", str),
                timestamp=_field(data, "timestamp", int),
                event_id=event_id,
            )
    except InvalidResponseError as exc:
        raise WebhookVerificationError(str(exc)) from None
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
    try:
        signing.verify_session_signature(secret, signature, body, tolerance=tolerance, now=now)
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from None
    data = _json_object(body)
    kind = data.get("type")
    obj = data.get("data", {}).get("object") if isinstance(data.get("data"), dict) else None
    if not (isinstance(kind, str) and kind.startswith("checkout.session.")):
        return UnrecognizedEvent(str(kind), data, _str(data.get("id")))
    try:
        return SessionEvent(
            id=_field(data, "id", str),
            type=kind,
            created=_field(data, "created", int),
            livemode=bool(data.get("livemode")),
            session=CheckoutSession.from_json(obj),
        )
    except InvalidResponseError as exc:
        raise WebhookVerificationError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class OcrchWebhookFormat:
    """Order webhooks: `Ocrch-Signature`, keyed with `[merchant].secret`."""

    secret: str
    tolerance: int = signing.TOLERANCE_SECONDS

    def matches(self, headers: Mapping[str, str]) -> bool:
        return header(headers, OCRCH_HEADER) is not None

    def verify(
        self, headers: Mapping[str, str], body: bytes, *, now: int | None = None
    ) -> WebhookEvent:
        return verify_ocrch_webhook(
            self.secret,
            header(headers, OCRCH_HEADER),
            body,
            event_id=header(headers, EVENT_ID_HEADER),
            tolerance=self.tolerance,
            now=now,
        )


@dataclass(frozen=True, slots=True)
class SessionWebhookFormat:
    """Checkout Session events: `Stablecheckout-Signature`, keyed with the session secret."""

    secret: str
    tolerance: int = signing.TOLERANCE_SECONDS

    def matches(self, headers: Mapping[str, str]) -> bool:
        return header(headers, SESSION_HEADER) is not None

    def verify(
        self, headers: Mapping[str, str], body: bytes, *, now: int | None = None
    ) -> WebhookEvent:
        return verify_session_webhook(
            self.secret, header(headers, SESSION_HEADER), body, tolerance=self.tolerance, now=now
        )


class WebhookVerifier:
    """One endpoint for every format you enabled: the first format whose header is present
    verifies the request; a request that matches none is refused."""

    def __init__(self, *formats: WebhookFormat) -> None:
        self.formats: list[WebhookFormat] = list(formats)

    @classmethod
    def for_secrets(
        cls, *, merchant_secret: str | None = None, session_webhook_secret: str | None = None
    ) -> WebhookVerifier:
        formats: list[WebhookFormat] = []
        if merchant_secret is not None:
            formats.append(OcrchWebhookFormat(merchant_secret))
        if session_webhook_secret is not None:
            formats.append(SessionWebhookFormat(session_webhook_secret))
        return cls(*formats)

    def register(self, fmt: WebhookFormat) -> None:
        """Add a format (e.g. a dialect's notify callback); earlier formats are tried first."""
        self.formats.append(fmt)

    def verify(
        self, headers: Mapping[str, str], body: bytes, *, now: int | None = None
    ) -> WebhookEvent:
        for fmt in self.formats:
            if fmt.matches(headers):
                return fmt.verify(headers, body, now=now)
        raise WebhookVerificationError("no signature header of an enabled webhook format")


def _field(data: Mapping[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidResponseError(f"webhook: field {key!r} is missing or not {kind.__name__}")
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
