"""Models from wire JSON, amounts on the wire, and the errors carrying the server's answer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stablecheckout_client import ApiError, Client, InvalidResponseError, Order
from stablecheckout_client._core import Call, wire_amount


def test_order_keeps_the_amount_text_and_ignores_unknown_fields() -> None:
    data = {
        "order_id": "019a2059-0000-7000-8000-000000000000",
        "merchant_order_id": "m-1",
        "amount": "20.00",
        "status": "pending",
        "created_at": 1795390511,
        "expires_at": 1795392311,
        "something_new": True,
    }
    order = Order.from_json(data)
    assert order.amount == "20.00" and order.amount_decimal == Decimal("20.00")
    assert order.expires_at == 1795392311 and not order.is_terminal
    with pytest.raises(InvalidResponseError, match="created_at"):
        Order.from_json({**data, "created_at": "yesterday"})


def test_amounts_are_decimal_text_never_floats() -> None:
    assert wire_amount("19.99") == "19.99"
    assert wire_amount(Decimal("20.00")) == "20.00"
    assert wire_amount(5) == "5"
    with pytest.raises(TypeError):
        wire_amount(19.99)  # type: ignore[arg-type]
    for bad in ("1e3", "NaN", "abc"):
        with pytest.raises(ValueError):
            wire_amount(bad)


def test_create_order_body_is_in_ocrch_order_and_signed_as_sent() -> None:
    client = Client("http://127.0.0.1:9", "k")
    call = Client.create_order.build(
        client,
        "ord_123",
        "19.99",
        "https://shop.example.com/webhooks/ocrch",
        metadata={"a": 1},
        idempotency_key="key-1",
    )
    assert call.content == (
        b'{"amount":"19.99","expecting_wallet_address":null,"order_id":"ord_123","blockchain":null,'
        b'"stablecoin":null,"webhook_url":"https://shop.example.com/webhooks/ocrch",'
        b'"metadata":{"a":1}}'
    )
    assert call.headers["Idempotency-Key"] == "key-1"
    assert (call.method, call.path) == ("POST", "/api/v1/service/orders")


def test_answers_are_read_without_a_network() -> None:
    """The sans-IO core: a status and a body in, the parsed answer or the server's error out."""
    call = Call("GET", "/x", lambda data: data["n"])
    assert call.finish(200, '{"n": 3}') == 3
    with pytest.raises(ApiError) as plain:
        call.finish(404, "order not found")
    assert (plain.value.status_code, plain.value.text) == (404, "order not found")
    with pytest.raises(InvalidResponseError, match="not JSON"):
        call.finish(200, "<html>")
    sessions = Call("GET", "/s", dict, json_errors=True)
    with pytest.raises(ApiError) as typed:
        sessions.finish(401, '{"error":{"type":"authentication_error","message":"no key"}}')
    assert (typed.value.error_type, typed.value.message) == ("authentication_error", "no key")


def test_session_errors_keep_type_param_and_text() -> None:
    text = '{"error":{"type":"invalid_request_error","message":"bad","param":"mode"}}'
    error = ApiError.from_session_response(
        400, text, {"error": {"type": "invalid_request_error", "message": "bad", "param": "mode"}}
    )
    assert (error.status_code, error.error_type, error.param, error.text) == (
        400,
        "invalid_request_error",
        "mode",
        text,
    )
    assert ApiError.from_session_response(502, "Bad Gateway", None).message == "Bad Gateway"
