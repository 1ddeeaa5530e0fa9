"""How each dialect's webhook is serialized and signed, as its seed's verifier reads it. Pure
functions of (secret, payload, timestamp): `app.webhooks.formats` looks the secret up and turns a
missing one into a retried failure.

    OpenCheckout  `OpenCheckout-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
    OVGC          `X-Webhook-Timestamp: <unix>`,
                  `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
    seed 002      `Authorization: HMAC-SHA256 Signature=<hex HMAC-SHA256(secret, body)>` over the
                  whitespace-free body
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

OPENCHECKOUT_HEADER = "OpenCheckout-Signature"


def compact(payload: dict[str, Any]) -> bytes:
    """Whitespace-free JSON: what seed 002 hashes, and what every dialect sends."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def opencheckout(
    secret: str, payload: dict[str, Any], timestamp: int
) -> tuple[bytes, dict[str, str]]:
    body = compact(payload)
    signature = hmac_hex(secret, f"{timestamp}.".encode() + body)
    return body, {OPENCHECKOUT_HEADER: f"t={timestamp},v1={signature}"}


def ovgc(secret: str, payload: dict[str, Any], timestamp: int) -> tuple[bytes, dict[str, str]]:
    body = compact(payload)
    signature = hmac_hex(secret, f"{timestamp}.".encode() + body)
    return body, {
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": f"sha256={signature}",
    }


SEED002_TYPES = {
    "paid": "payment-authorized",
    "expired": "payment-expired",
    "cancelled": "payment-cancelled",
}
"""Seed 002 sends only `payment-authorized`; an order that ends unpaid is reported with the same
body under its own type, which a seed 002 handler ignores."""


def seed002_payload(order_status: dict[str, Any]) -> dict[str, Any]:
    """Seed 002's callback from an Ocrch `order_status_changed` payload: `amount` as an integer
    in the order's smallest unit (`"25.00"` → 2500), `sessionId` the order id the merchant got
    when creating it, `paymentId` its compact form, `merchantOrderId` the merchant's reference."""
    amount = str(order_status["amount"])
    order_id = str(order_status["order_id"])
    return {
        "type": SEED002_TYPES.get(str(order_status["status"]), f"payment-{order_status['status']}"),
        "payload": {
            "amount": int(amount.replace(".", "")),
            "paymentId": order_id.replace("-", ""),
            "sessionId": order_id,
            "merchantOrderId": order_status["merchant_order_id"],
        },
    }


def seed002(secret: str, order_status: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = compact(seed002_payload(order_status))
    return body, {"Authorization": f"HMAC-SHA256 Signature={hmac_hex(secret, body)}"}
