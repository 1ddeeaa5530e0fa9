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
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.rates.currencies import minor_units

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


def seed002_minor_units(order_status: dict[str, Any]) -> int:
    """The order's amount as an integer of its smallest unit: the ISO 4217 minor unit of a fiat
    order's `currency` (JPY 0, EUR 2, KWD 3), else cents of the coin (`"25.00"`, `"25"` and
    `"25.0"` → 2500). A coin amount finer than a cent is rounded half up to the cent."""
    currency = order_status.get("currency")
    exponent = minor_units(str(currency)) if currency else 2
    scaled = Decimal(str(order_status["amount"])).scaleb(exponent)
    return int(scaled.to_integral_value(rounding=ROUND_HALF_UP))


def seed002_payload(order_status: dict[str, Any]) -> dict[str, Any]:
    """Seed 002's callback from an Ocrch `order_status_changed` payload: `amount` as an integer
    in the order's smallest unit (`seed002_minor_units`), `sessionId` the order id the merchant
    got when creating it, `paymentId` its compact form, `merchantOrderId` the merchant's
    reference."""
    order_id = str(order_status["order_id"])
    return {
        "type": SEED002_TYPES.get(str(order_status["status"]), f"payment-{order_status['status']}"),
        "payload": {
            "amount": seed002_minor_units(order_status),
            "paymentId": order_id.replace("-", ""),
            "sessionId": order_id,
            "merchantOrderId": order_status["merchant_order_id"],
        },
    }


def without_whitespace(payload: dict[str, Any]) -> bytes:
    """JSON with no whitespace byte at all, inside strings too (a space is sent as `\\u0020`,
    everything non-ASCII escaped): seed 002's verifier removes all whitespace before hashing,
    so the bytes it hashes must be the bytes we signed."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace(" ", "\\u0020").encode()


def seed002(secret: str, order_status: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = without_whitespace(seed002_payload(order_status))
    return body, {"Authorization": f"HMAC-SHA256 Signature={hmac_hex(secret, body)}"}
