"""The webhooks added after Ocrch's two, verified and typed: `payment_exception` and `refund.sent`
(Ocrch format and Checkout Session event), and the additive receipt fields on
`order_status_changed`. Bodies are built here as the server writes them (compact JSON, Ocrch's
`timestamp` last) and signed here with the SDK's signers."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from stablecheckout_client import (
    CheckoutSession,
    Order,
    OrderStatusChanged,
    PaymentException,
    RefundSent,
    UnrecognizedEvent,
    WebhookVerificationError,
    WebhookVerifier,
    verify_ocrch_webhook,
    verify_session_webhook,
)
from stablecheckout_client.signing import sign_body, sign_session_webhook

K1 = "test-merchant-secret"
WHSEC = "whsec_" + "z" * 40
TS = 1711900860
ORDER_ID = "0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e"
TX = "0x" + "ab" * 32


def _wire(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


EXCEPTION = {
    "event_type": "payment_exception",
    "order_id": ORDER_ID,
    "merchant_order_id": "ord_123",
    "kind": "overpaid",
    "amount": "12.350000",
    "blockchain": "eth",
    "stablecoin": "USDT",
    "tx_hash": TX,
    "timestamp": TS,
}
REFUND = {
    "refund_id": 12,
    "order_id": ORDER_ID,
    "merchant_order_id": "ord_123",
    "kind": "overpaid",
    "amount": "1.500000",
    "blockchain": "eth",
    "stablecoin": "USDT",
    "address": "0xAb12000000000000000000000000000000000001",
    "tx_hash": "0x" + "cd" * 32,
    "evidence": "watcher",
}


def test_payment_exception() -> None:
    body = _wire(EXCEPTION)
    event = verify_ocrch_webhook(K1, sign_body(K1, body, TS), body, event_id="e7", now=TS)
    assert event == PaymentException(
        ORDER_ID, "ord_123", "overpaid", "12.350000", "eth", "USDT", TX, TS, "e7"
    )
    assert isinstance(event, PaymentException) and event.amount_decimal == Decimal("12.35")
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_ocrch_webhook("another-secret", sign_body(K1, body, TS), body, now=TS)
    torn = _wire({k: v for k, v in EXCEPTION.items() if k != "tx_hash"})
    with pytest.raises(WebhookVerificationError, match="tx_hash"):
        verify_ocrch_webhook(K1, sign_body(K1, torn, TS), torn, now=TS)


def test_refund_sent_in_ocrch_format() -> None:
    body = _wire({"event_type": "refund.sent", **REFUND, "timestamp": TS})
    event = verify_ocrch_webhook(K1, sign_body(K1, body, TS), body, event_id="e8", now=TS)
    assert isinstance(event, RefundSent)
    assert (event.refund_id, event.kind, event.amount_decimal) == (12, "overpaid", Decimal("1.5"))
    assert (event.address, event.evidence, event.timestamp) == (REFUND["address"], "watcher", TS)
    assert (event.tx_hash, event.event_id, event.checkout_session) == (
        REFUND["tx_hash"],
        "e8",
        None,
    )
    no_id = _wire({"event_type": "refund.sent", **REFUND, "refund_id": "12", "timestamp": TS})
    with pytest.raises(WebhookVerificationError, match="refund_id"):
        verify_ocrch_webhook(K1, sign_body(K1, no_id, TS), no_id, now=TS)


def test_refund_sent_as_a_session_event() -> None:
    body = _wire(
        {
            "id": "evt_0190",
            "object": "event",
            "type": "refund.sent",
            "created": TS,
            "livemode": False,
            "data": {"object": {"object": "refund", "checkout_session": "cs_test_1", **REFUND}},
        }
    )
    header = sign_session_webhook(WHSEC, body, TS)
    event = verify_session_webhook(WHSEC, header, body, now=TS)
    assert isinstance(event, RefundSent)
    assert (event.checkout_session, event.event_id, event.timestamp) == (
        "cs_test_1",
        "evt_0190",
        TS,
    )
    assert (event.order_id, event.amount) == (ORDER_ID, "1.500000")
    verifier = WebhookVerifier.for_secrets(merchant_secret=K1, session_webhook_secret=WHSEC)
    assert verifier.verify({"Stablecheckout-Signature": header}, body, now=TS) == event


def test_order_status_changed_carries_what_the_order_received() -> None:
    body = _wire(
        {
            "event_type": "order_status_changed",
            "order_id": ORDER_ID,
            "merchant_order_id": "ord_123",
            "status": "paid",
            "amount": "25.00",
            "amount_received": "25.00",
            "amount_due": "0",
            "payment_exceptions": ["partial"],
            "timestamp": TS,
        }
    )
    verifier = WebhookVerifier.for_secrets(merchant_secret=K1)
    event = verifier.verify({"Ocrch-Signature": sign_body(K1, body, TS)}, body, now=TS)
    assert isinstance(event, OrderStatusChanged)
    assert (event.amount_received, event.amount_due, event.payment_exceptions) == (
        "25.00",
        "0",
        ["partial"],
    )
    older = _wire(
        {k: v for k, v in json.loads(body).items() if not k.startswith(("amount_", "pay"))}
    )
    before = verify_ocrch_webhook(K1, sign_body(K1, older, TS), older, now=TS)
    assert isinstance(before, OrderStatusChanged)
    assert (before.amount_received, before.amount_due, before.payment_exceptions) == (
        None,
        None,
        [],
    )


def test_the_receipt_fields_on_orders_and_sessions() -> None:
    order = Order.from_json(
        {
            "order_id": ORDER_ID,
            "merchant_order_id": "ord_123",
            "amount": "25.00",
            "status": "pending",
            "created_at": TS,
            "amount_received": "24.75",
            "amount_due": "0.25",
            "payment_exceptions": ["partial"],
        }
    )
    assert (order.amount_received, order.amount_due, order.payment_exceptions) == (
        "24.75",
        "0.25",
        ["partial"],
    )
    session = CheckoutSession.from_json(
        {
            "id": "cs_test_1",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "currency": "usd",
            "success_url": "https://shop.example/ok",
            "livemode": False,
            "created": TS,
            "expires_at": TS + 1800,
            "amount_received": 4350,
            "amount_due": 48,
            "payment_exceptions": ["partial"],
        }
    )
    assert (session.amount_received, session.amount_due, session.payment_exceptions) == (
        4350,
        48,
        ["partial"],
    )


def test_a_newer_event_stays_unrecognized_not_dropped() -> None:
    body = _wire({"event_type": "refund.failed", "refund_id": 3, "timestamp": TS})
    event = verify_ocrch_webhook(K1, sign_body(K1, body, TS), body, now=TS)
    assert isinstance(event, UnrecognizedEvent) and event.event_type == "refund.failed"
