"""The dialects' webhook bodies and signatures, byte for byte, and the formats' secret lookup."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from app.config import load_settings
from app.dialects import signing
from app.webhooks import formats
from tests.conftest import K1, settings_dict

SECRET = "whsec_" + "Zr4Ku8Wn2Qp6Xs0Jv3Lm7Hc1Tb5Yd9Fg"
ORDER = {
    "event_type": "order_status_changed",
    "order_id": "01a2323e-d278-71e5-a2a6-67336c07c3dc",
    "merchant_order_id": "shop-1",
    "status": "paid",
    "amount": "20.00",
}


def test_opencheckout_signature() -> None:
    body, headers = signing.opencheckout(SECRET, {"status": "completed", "a": [1]}, 1700000000)
    assert body == b'{"status":"completed","a":[1]}'
    mac = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers == {"OpenCheckout-Signature": f"t=1700000000,v1={mac}"}


def test_ovgc_signature() -> None:
    body, headers = signing.ovgc(SECRET, {"type": "payment.succeeded"}, 1700000000)
    mac = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers == {"X-Webhook-Timestamp": "1700000000", "X-Webhook-Signature": f"sha256={mac}"}


def test_seed002_body_and_signature() -> None:
    body, headers = signing.seed002(K1, ORDER)
    assert json.loads(body) == {
        "type": "payment-authorized",
        "payload": {
            "amount": 2000,
            "paymentId": "01a2323ed27871e5a2a667336c07c3dc",
            "sessionId": ORDER["order_id"],
            "merchantOrderId": "shop-1",
        },
    }
    assert b" " not in body
    mac = hmac.new(K1.encode(), body, hashlib.sha256).hexdigest()
    assert headers == {"Authorization": f"HMAC-SHA256 Signature={mac}"}
    assert json.loads(signing.seed002(K1, {**ORDER, "status": "expired"})[0])["type"] == (
        "payment-expired"
    )


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("20.00", None, 2000),
        ("20", None, 2000),
        ("3.5", None, 350),
        ("12.345", None, 1235),
        ("1500", "JPY", 1500),
        ("12.5", "EUR", 1250),
        ("1.234", "KWD", 1234),
    ],
)
def test_seed002_amount_is_minor_units_however_the_price_was_written(
    amount: str, currency: str | None, minor: int
) -> None:
    order = {**ORDER, "amount": amount, **({"currency": currency} if currency else {})}
    assert json.loads(signing.seed002(K1, order)[0])["payload"]["amount"] == minor


def test_seed002_verifier_that_strips_whitespace_accepts_text_with_spaces() -> None:
    """Seed 002's verifier removes all whitespace before hashing: a merchant order id with
    spaces (or any non-ASCII text) must not change the bytes it hashes."""
    order = {**ORDER, "merchant_order_id": "Order 42 \u00e9t\u00e9\u00a0x"}
    body, headers = signing.seed002(K1, order)
    stripped = b"".join(body.split())
    assert stripped == body
    mac = hmac.new(K1.encode(), stripped, hashlib.sha256).hexdigest()
    assert headers["Authorization"] == f"HMAC-SHA256 Signature={mac}"
    assert json.loads(body)["payload"]["merchantOrderId"] == order["merchant_order_id"]


def test_formats_choose_secret_and_seed002() -> None:
    plain = load_settings(None, **settings_dict("sqlite://"))
    with pytest.raises(formats.CannotSign, match=r"\[dialects.opencheckout\].webhook_secret"):
        formats.FORMATS[formats.OPENCHECKOUT](plain, {}, 1)
    assert "Ocrch-Signature" in formats.FORMATS[formats.OCRCH](plain, ORDER, 1)[1]
    seed = load_settings(None, **settings_dict("sqlite://", webhooks={"format": "seed002"}))
    body, headers = formats.FORMATS[formats.OCRCH](seed, ORDER, 1)
    assert json.loads(body)["type"] == "payment-authorized" and "Authorization" in headers
    unknown = {"event_type": "unknown_transfer_received", "transfer_id": 1, "blockchain": "eth"}
    assert "Ocrch-Signature" in formats.FORMATS[formats.OCRCH](seed, unknown, 1)[1]
    with_secret = load_settings(
        None,
        **settings_dict(
            "sqlite://",
            dialects={"ovgc": {"webhook_url": "https://s.example/h", "webhook_secret": SECRET}},
        ),
    )
    assert "X-Webhook-Signature" in formats.FORMATS[formats.OVGC](with_secret, {}, 1)[1]
