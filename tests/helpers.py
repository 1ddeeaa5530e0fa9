"""Builders for signed requests, shared by tests."""

from __future__ import annotations

import json
import time
from typing import Any

from app.security.signatures import sign_body, sign_url
from tests.conftest import K1


def body_bytes(body: dict[str, Any] | bytes) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()


def signed_headers(
    body: bytes, *, key: str = K1, ts: int | None = None, **extra: str
) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {
        "Ocrch-Signature": sign_body(key, body, ts),
        "Content-Type": "application/json",
        **extra,
    }


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": "19.99",
        "expecting_wallet_address": None,
        "order_id": "ord_123",
        "blockchain": None,
        "stablecoin": None,
        "webhook_url": "https://shop.example.com/webhooks/ocrch",
    }
    body.update(overrides)
    return body


def checkout_url(order_id: str, base: str = "https://checkout.example.com/pay") -> str:
    """The URL a merchant backend signs for the hosted page (the page's address without `sig`)."""
    return f"{base}?order_id={order_id}"


def user_headers(url: str, *, key: str = K1, ts: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {"Ocrch-Signed-Url": url, "Ocrch-Signature": sign_url(key, url, ts)}
