"""The webhooks of the API dialects (docs/compatibility.md), verified and typed.

* OpenCheckout: `OpenCheckout-Signature: t=<unix>,v1=<hex>` over `"<t>.<body>"`, keyed with
  `[dialects.opencheckout].webhook_secret`;
* OVGC: `X-Webhook-Timestamp` and `X-Webhook-Signature: sha256=<hex>` over `"<timestamp>.<body>"`,
  keyed with `[dialects.ovgc].webhook_secret`;
* seed 002's callback: `Authorization: HMAC-SHA256 Signature=<hex>` over the body, keyed with the
  merchant secret (`[webhooks].format = "seed002"` sends it instead of Ocrch's order webhook).

The first two carry a timestamp, refused beyond `tolerance` seconds from now; seed 002 has none,
so nothing bounds a replay of it: credit each payment once. Each is a `HeaderFormat`.
"""

from __future__ import annotations

from collections.abc import Mapping

from stablecheckout_client import signing
from stablecheckout_client.models import (
    OpenCheckoutEvent,
    OpenCheckoutSession,
    OvgcEvent,
    OvgcSession,
    Seed002Event,
    WebhookEvent,
)
from stablecheckout_client.webhooks import (
    HeaderFormat,
    header,
    json_object,
    required,
    unverified_on_error,
)

OPENCHECKOUT_HEADER = "OpenCheckout-Signature"
OVGC_TIMESTAMP_HEADER = "X-Webhook-Timestamp"
OVGC_SIGNATURE_HEADER = "X-Webhook-Signature"
SEED002_HEADER = "Authorization"


def verify_opencheckout_webhook(
    secret: str,
    signature: str | None,
    body: bytes,
    *,
    event_id: str | None = None,
    tolerance: int = signing.TOLERANCE_SECONDS,
    now: int | None = None,
) -> OpenCheckoutEvent:
    """Verify an `OpenCheckout-Signature` webhook over the raw `body` and parse its event."""
    with unverified_on_error():
        signing.verify_t_v1(
            secret, signature, body, name=OPENCHECKOUT_HEADER, tolerance=tolerance, now=now
        )
    data = json_object(body)
    with unverified_on_error():
        session = OpenCheckoutSession.from_json(data.get("session"))
    return OpenCheckoutEvent(
        id=required(data, "id", str),
        type=required(data, "type", str),
        status=required(data, "status", str),
        metadata=dict(required(data, "metadata", dict)),
        session_id=required(data, "session_id", str),
        created_at=required(data, "created_at", str),
        session=session,
        event_id=event_id,
    )


def verify_ovgc_webhook(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    event_id: str | None = None,
    tolerance: int = signing.TOLERANCE_SECONDS,
    now: int | None = None,
) -> OvgcEvent:
    """Verify an OVGC webhook (`X-Webhook-Timestamp`, `X-Webhook-Signature`) and parse it."""
    with unverified_on_error():
        signing.verify_ovgc(secret, timestamp, signature, body, tolerance=tolerance, now=now)
    data = json_object(body)
    with unverified_on_error():
        session = OvgcSession.from_json(data.get("data"))
    return OvgcEvent(
        id=required(data, "id", str),
        type=required(data, "type", str),
        created_at=required(data, "created_at", str),
        data=session,
        event_id=event_id,
    )


def verify_seed002_callback(
    secret: str, authorization: str | None, body: bytes, *, event_id: str | None = None
) -> Seed002Event:
    """Verify seed 002's `Authorization: HMAC-SHA256 Signature=<hex>` over the raw `body` (the
    merchant secret) and parse the callback."""
    with unverified_on_error():
        signing.verify_seed002(secret, authorization, body)
    data = json_object(body)
    payload = required(data, "payload", dict)
    merchant_order_id = payload.get("merchantOrderId")
    return Seed002Event(
        type=required(data, "type", str),
        amount=required(payload, "amount", int),
        payment_id=required(payload, "paymentId", str),
        session_id=required(payload, "sessionId", str),
        merchant_order_id=merchant_order_id if isinstance(merchant_order_id, str) else None,
        event_id=event_id,
    )


class OpenCheckoutWebhookFormat(HeaderFormat):
    """OpenCheckout dialect events: `OpenCheckout-Signature`, its own `webhook_secret`."""

    HEADER = OPENCHECKOUT_HEADER
    VERIFY = verify_opencheckout_webhook


class OvgcWebhookFormat(HeaderFormat):
    """OVGC dialect events: `X-Webhook-Signature`, its own `webhook_secret`."""

    HEADER = OVGC_SIGNATURE_HEADER

    def check(
        self, headers: Mapping[str, str], body: bytes, event_id: str | None, now: int | None
    ) -> WebhookEvent:
        timestamp, signature = header(headers, OVGC_TIMESTAMP_HEADER), header(headers, self.HEADER)
        return verify_ovgc_webhook(
            self.secret,
            timestamp,
            signature,
            body,
            event_id=event_id,
            tolerance=self.tolerance,
            now=now,
        )


class Seed002WebhookFormat(HeaderFormat):
    """Seed 002's callback: `Authorization: HMAC-SHA256 …`, keyed with `[merchant].secret`
    (no timestamp: `tolerance` does not apply)."""

    HEADER = SEED002_HEADER

    def matches(self, headers: Mapping[str, str]) -> bool:
        value = header(headers, SEED002_HEADER)
        return value is not None and value.strip().startswith(signing.SEED002_SCHEME + " ")

    def check(
        self, headers: Mapping[str, str], body: bytes, event_id: str | None, now: int | None
    ) -> WebhookEvent:
        return verify_seed002_callback(
            self.secret, header(headers, SEED002_HEADER), body, event_id=event_id
        )
