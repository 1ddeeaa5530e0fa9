"""Create an order through the signed Service API and read it back — the merchant side, curl-free.

uv run python docs/examples/create_order.py http://127.0.0.1:8080 .stablecheckout-serve/config.toml
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
import tomllib
import urllib.request


def signature(secret: str, body: bytes) -> str:
    """`Ocrch-Signature: {ts}.{unpadded base64 of HMAC-SHA256(secret, ts + "." + body)}`."""
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).digest()
    return ts + "." + base64.b64encode(digest).decode().rstrip("=")


def call(base_url: str, secret: str, path: str, payload: dict[str, object]) -> dict[str, object]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    request = urllib.request.Request(  # noqa: S310 - the caller passes an http(s) URL
        base_url + path,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Ocrch-Signature": signature(secret, body)},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        result: dict[str, object] = json.load(response)
        return result


def main() -> None:
    base_url, config_path = sys.argv[1], sys.argv[2]
    with open(config_path, "rb") as file:
        secret = tomllib.load(file)["merchant"]["secret"]
    order = call(
        base_url,
        secret,
        "/api/v1/service/orders",
        {
            "order_id": "shop-order-1001",
            "amount": "19.99",
            "webhook_url": "https://shop.example.com/webhooks/stablecheckout",
        },
    )
    print("created:", json.dumps(order))
    again = call(base_url, secret, "/api/v1/service/orders/status", {"order_id": order["order_id"]})
    print("status: ", json.dumps(again))


if __name__ == "__main__":
    main()
