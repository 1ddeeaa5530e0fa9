"""The dialects' webhooks: the shared vectors (sdk/vectors/webhooks.json), the refusals of each
scheme (wrong secret, altered body, stale or missing timestamp, malformed header), and the
verifier choosing the format by its header."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from stablecheckout_client import (
    EpayNotify,
    EpusdtNotify,
    OpenCheckoutEvent,
    OrderStatusChanged,
    OvgcEvent,
    Seed002Event,
    WebhookVerificationError,
    WebhookVerifier,
    epay_sign,
    epusdt_sign,
    verify_epay_notify,
    verify_epusdt_notify,
    verify_opencheckout_webhook,
    verify_ovgc_webhook,
    verify_seed002_callback,
)
from stablecheckout_client.md5 import render_number
from stablecheckout_client.signing import sign_body, sign_ovgc, sign_seed002, sign_t_v1

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "webhooks.json").read_text("utf-8")
)
OC, OV, S2 = VECTORS["opencheckout"], VECTORS["ovgc"], VECTORS["seed002"]


def test_opencheckout_vector() -> None:
    body = OC["body"].encode()
    header = OC["headers"]["OpenCheckout-Signature"]
    event = verify_opencheckout_webhook(OC["secret"], header, body, now=OC["now"], event_id="e1")
    assert isinstance(event, OpenCheckoutEvent)
    assert (event.type, event.status, event.metadata["order_id"]) == (
        "checkout.session.completed",
        "completed",
        "42",
    )
    assert event.session.amount_total == 3998 and event.session.metadata["note"] == "café"
    assert event.session.status == "completed" and event.event_id == "e1"
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_opencheckout_webhook("whsec_other", header, body, now=OC["now"])
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        altered = body.replace(b'"42"', b'"43"')
        verify_opencheckout_webhook(OC["secret"], header, altered, now=OC["now"])
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_opencheckout_webhook(OC["secret"], header, body, now=OC["now"] + 301)
    with pytest.raises(WebhookVerificationError, match="missing OpenCheckout-Signature"):
        verify_opencheckout_webhook(OC["secret"], None, body)
    with pytest.raises(WebhookVerificationError, match="not `t="):
        verify_opencheckout_webhook(OC["secret"], header.split(",")[1], body)


def test_ovgc_vector() -> None:
    body, headers = OV["body"].encode(), OV["headers"]
    timestamp, signature = headers["X-Webhook-Timestamp"], headers["X-Webhook-Signature"]
    event = verify_ovgc_webhook(OV["secret"], timestamp, signature, body, now=OV["now"])
    assert isinstance(event, OvgcEvent) and event.type == "payment.succeeded"
    assert (event.data.amount, event.data.status, event.data.email) == (
        2500,
        "completed",
        "customer@example.com",
    )
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_ovgc_webhook(OV["secret"], "1795394312", signature, body, now=OV["now"])
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_ovgc_webhook(OV["secret"], timestamp, signature, body, now=OV["now"] - 301)
    with pytest.raises(WebhookVerificationError, match="X-Webhook-Timestamp"):
        verify_ovgc_webhook(OV["secret"], None, signature, body, now=OV["now"])
    with pytest.raises(WebhookVerificationError, match="sha256="):
        verify_ovgc_webhook(OV["secret"], timestamp, signature[7:], body, now=OV["now"])


def test_seed002_vector_is_the_seeds_own_example() -> None:
    body = S2["body"].encode()
    header = S2["headers"]["Authorization"]
    event = verify_seed002_callback(S2["secret"], header, body)
    assert event == Seed002Event(
        "payment-authorized",
        2000,
        "e7dbc6b9fc2542c69eb53f9e9b978294",
        "4e0d7dd3c12441fba02981f60732a13f",
    )
    assert event.paid
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_seed002_callback(S2["secret"], header, body.replace(b"2000", b"20000"))
    with pytest.raises(WebhookVerificationError, match="HMAC-SHA256 Signature="):
        verify_seed002_callback(S2["secret"], header.replace("HMAC-SHA256", "HMAC-MD5"), body)
    with pytest.raises(WebhookVerificationError, match="missing Authorization"):
        verify_seed002_callback(S2["secret"], None, body)


def test_epusdt_notify_vector_e2() -> None:
    vector = VECTORS["epusdt_notify"]
    notice = verify_epusdt_notify(vector["token"], vector["body"].encode(), event_id="e2")
    assert isinstance(notice, EpusdtNotify) and notice.paid and notice.event_id == "e2"
    assert (notice.amount, notice.actual_amount, notice.trade_id) == (
        "72",
        "10.01",
        "k3Jd9QpLx2VbN7s1Ty",
    )
    # A PHP client would write the same number as 72.0: it is signed as 72 all the same.
    verify_epusdt_notify(
        vector["token"], vector["body"].replace('"amount":72', '"amount":72.0').encode()
    )
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_epusdt_notify("another_token", vector["body"].encode())
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_epusdt_notify(vector["token"], vector["body"].replace("10.01", "100.01").encode())
    unsigned = json.loads(vector["body"])
    del unsigned["signature"]
    with pytest.raises(WebhookVerificationError, match="missing signature"):
        verify_epusdt_notify(vector["token"], json.dumps(unsigned).encode())
    with pytest.raises(WebhookVerificationError, match="array or object"):
        nested = {**unsigned, "extra": [1], "signature": "0" * 32}
        verify_epusdt_notify(vector["token"], json.dumps(nested).encode())


def test_epay_notify_vector_p2_in_every_shape_a_framework_gives() -> None:
    vector = VECTORS["epay_notify"]
    key, query = vector["key"], vector["query"]
    pairs = parse_qsl(query)
    for given in (query, "?" + query, f"https://shop.example.com/epay/notify?{query}", dict(pairs)):
        notice = verify_epay_notify(key, given, pid="1000")
        assert isinstance(notice, EpayNotify) and notice.paid
        assert (notice.name, notice.money, notice.out_trade_no) == (
            "Test Item",
            "36.00",
            "EP20261122001",
        )
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_epay_notify(key, query.replace("36.00", "3600.00"))
    with pytest.raises(WebhookVerificationError, match="another pid"):
        verify_epay_notify(key, query, pid="1001")
    with pytest.raises(WebhookVerificationError, match="twice"):
        verify_epay_notify(key, query + "&money=1.00")
    with pytest.raises(WebhookVerificationError, match="missing sign"):
        verify_epay_notify(key, query.split("&sign=")[0])


def test_request_signatures_of_the_md5_dialects() -> None:
    for vector in VECTORS["epusdt_requests"]:
        assert epusdt_sign(vector["params"], vector["token"]) == vector["signature"]
    for vector in VECTORS["epay_requests"]:
        assert epay_sign(vector["params"], vector["key"]) == vector["sign"]
    assert [render_number(n) for n in (72.0, 1e-05, 1e6, 0.1 + 0.2, 7)] == [
        "72",
        "0.00001",
        "1000000",
        "0.30000000000000004",
        "7",
    ]


def test_the_verifier_picks_each_format_by_its_header() -> None:
    merchant, oc, ovgc = "m" * 40, "whsec_" + "o" * 40, "whsec_" + "v" * 40
    verifier = WebhookVerifier.for_secrets(
        merchant_secret=merchant, opencheckout_secret=oc, ovgc_secret=ovgc
    )
    body = OC["body"].encode()
    event = verifier.verify({"opencheckout-signature": sign_t_v1(oc, body)}, body)
    assert isinstance(event, OpenCheckoutEvent)
    body = OV["body"].encode()
    assert isinstance(verifier.verify(sign_ovgc(ovgc, body), body), OvgcEvent)
    body = S2["body"].encode()
    headers = {"Authorization": sign_seed002(merchant, body), "Stablecheckout-Event-Id": "e7"}
    seed002 = verifier.verify(headers, body)
    assert isinstance(seed002, Seed002Event) and seed002.event_id == "e7"
    ocrch = b'{"event_type":"order_status_changed","order_id":"o","merchant_order_id":"m",'
    ocrch += b'"status":"paid","amount":"1.00","timestamp":1}'
    assert isinstance(
        verifier.verify({"Ocrch-Signature": sign_body(merchant, ocrch, 1)}, ocrch, now=1),
        OrderStatusChanged,
    )
    with pytest.raises(WebhookVerificationError, match="no signature header"):
        verifier.verify({"Authorization": "Bearer sk_live_x"}, body)
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verifier.verify(sign_ovgc(oc, OV["body"].encode()), OV["body"].encode())
