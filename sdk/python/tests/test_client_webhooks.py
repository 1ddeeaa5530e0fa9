"""Webhook verification: the W1/W2 vectors, session events, and the format registry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal

import pytest

from stablecheckout_client import (
    OrderStatusChanged,
    SessionEvent,
    UnknownTransferReceived,
    UnrecognizedEvent,
    WebhookEvent,
    WebhookVerificationError,
    WebhookVerifier,
    verify_ocrch_webhook,
    verify_session_webhook,
)
from stablecheckout_client.signing import sign_body, sign_session_webhook

K1 = "test-merchant-secret"
K2 = "s3cr3t-KEY-#2"
W1_BODY = (
    b'{"event_type":"order_status_changed","order_id":"0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e",'
    b'"merchant_order_id":"ord_123","status":"paid","amount":"19.99","timestamp":1711900860}'
)
W1 = "1711900860.5VJhXo23uU5B4bAbVHF+wZr7AshYdndRpm7yGLOyCxM"
W2_BODY = (
    b'{"event_type":"unknown_transfer_received","transfer_id":42,'
    b'"blockchain":"erc20:Ethereum","timestamp":1711900900}'
)
W2 = "1711900900.WscTKnYI4AXc747WAwAEsXHm219hselvxQKt8r82Nqc"
SESSION = {
    "id": "cs_test_abc",
    "object": "checkout.session",
    "url": None,
    "mode": "payment",
    "status": "complete",
    "payment_status": "paid",
    "amount_total": 3998,
    "currency": "usd",
    "line_items": [],
    "success_url": "https://shop.example/ok",
    "cancel_url": None,
    "customer_email": None,
    "client_reference_id": None,
    "metadata": {"order_id": "42"},
    "order_id": "01a205d4-a9ff-719e-9e4e-013726e61e97",
    "livemode": False,
    "created": 1795394152,
    "expires_at": 1795395952,
    "completed_at": 1795394311,
}
EVENT = {
    "id": "evt_01",
    "object": "event",
    "type": "checkout.session.completed",
    "created": 1795394311,
    "livemode": False,
    "data": {"object": SESSION},
}


def test_w1_order_status_changed() -> None:
    event = verify_ocrch_webhook(K1, W1, W1_BODY, event_id="e1", now=1711900860)
    assert event == OrderStatusChanged(
        "0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e", "ord_123", "paid", "19.99", 1711900860, "e1"
    )
    assert isinstance(event, OrderStatusChanged) and event.amount_decimal == Decimal("19.99")


def test_w2_unknown_transfer() -> None:
    event = verify_ocrch_webhook(K2, W2, W2_BODY, now=1711900900)
    assert event == UnknownTransferReceived(42, "erc20:Ethereum", 1711900900)


def test_ocrch_refusals() -> None:
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_ocrch_webhook(K2, W1, W1_BODY, now=1711900860)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_ocrch_webhook(K1, W1, W1_BODY, now=1711901161)
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_ocrch_webhook(K1, None, W1_BODY)
    body = b'{"event_type":"order_status_changed","order_id":"x"}'
    with pytest.raises(WebhookVerificationError, match="merchant_order_id"):
        verify_ocrch_webhook(K1, sign_body(K1, body), body)


def test_unknown_event_types_are_returned_not_dropped() -> None:
    body = b'{"event_type":"something_new","x":1}'
    event = verify_ocrch_webhook(K1, sign_body(K1, body), body)
    assert event == UnrecognizedEvent("something_new", {"event_type": "something_new", "x": 1})


def test_session_event_uses_its_own_secret() -> None:
    body = json.dumps(EVENT).encode()
    header = sign_session_webhook("whsec_" + "x" * 40, body)
    event = verify_session_webhook("whsec_" + "x" * 40, header, body)
    assert isinstance(event, SessionEvent)
    assert event.type == "checkout.session.completed" and event.session.amount_total == 3998
    assert event.session.metadata == {"order_id": "42"}
    with pytest.raises(WebhookVerificationError):
        verify_session_webhook("a-merchant-secret", header, body)


class EchoFormat:
    """A stand-in for a dialect's notify format: recognised by its own header."""

    def matches(self, headers: Mapping[str, str]) -> bool:
        return "X-Echo" in headers

    def verify(
        self, headers: Mapping[str, str], body: bytes, *, now: int | None = None
    ) -> WebhookEvent:
        if headers["X-Echo"] != "ok":
            raise WebhookVerificationError("bad echo")
        return UnrecognizedEvent("echo", {"body": body.decode()})


def test_verifier_dispatches_on_the_signature_header() -> None:
    session_secret = "whsec_" + "y" * 40
    verifier = WebhookVerifier.for_secrets(
        merchant_secret=K1, session_webhook_secret=session_secret
    )
    ocrch = verifier.verify(
        {"ocrch-signature": W1, "Stablecheckout-Event-Id": "e9"}, W1_BODY, now=1711900860
    )
    assert isinstance(ocrch, OrderStatusChanged) and ocrch.event_id == "e9"
    body = json.dumps(EVENT).encode()
    sig = sign_session_webhook(session_secret, body)
    assert isinstance(verifier.verify({"Stablecheckout-Signature": sig}, body), SessionEvent)
    with pytest.raises(WebhookVerificationError, match="no signature header"):
        verifier.verify({"X-Echo": "ok"}, b"{}")
    verifier.register(EchoFormat())
    assert verifier.verify({"X-Echo": "ok"}, b"hi") == UnrecognizedEvent("echo", {"body": "hi"})
