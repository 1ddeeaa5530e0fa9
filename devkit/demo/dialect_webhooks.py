"""The demo shop's receivers for the two dialects' webhooks, each verified the way its seed's
merchant code does it (docs/compatibility.md), then shown in the shop's webhook log beside the
Ocrch and session ones: OpenCheckout (seed 000) and OVGC (seed 001)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from litestar import Request, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler

from app.http import services_of

TOLERANCE_SECONDS = 300


def _mac(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_opencheckout(header: str, body: bytes, secret: str, now: int) -> bool:
    """`OpenCheckout-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp = fields.get("t", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(_mac(secret, timestamp, body), fields.get("v1", ""))


def verify_ovgc(timestamp: str, signature: str, body: bytes, secret: str, now: int) -> bool:
    """Seed 001's verifier: `X-Webhook-Signature: sha256=<hex>` over "<timestamp>.<body>"."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(f"sha256={_mac(secret, timestamp, body)}", signature)


def _keep(state: State, valid: bool, body: dict[str, Any], request: Request[Any, Any, Any]) -> None:
    shop: Any = state.demo  # devkit.demo.routes.DemoShop (imports this module)
    shop.keep(valid, body, request.headers.get("stablecheckout-attempt"))


@post("/demo/opencheckout-webhooks", include_in_schema=False, status_code=204)
async def demo_opencheckout_webhook(request: Request[Any, Any, Any], state: State) -> None:
    """Seed 000's handler reads the top level: `type`, `status`, `metadata`, and the session."""
    body = await request.body()
    secret = services_of(state).settings.dialects.opencheckout.webhook_secret or ""
    header = request.headers.get("opencheckout-signature", "")
    event = json.loads(body)
    _keep(
        state,
        verify_opencheckout(header, body, secret, int(time.time())),
        {
            "event_type": f"opencheckout {event['type']}",
            "merchant_order_id": event["session_id"],
            "status": event["status"],
            "amount": _cents(event["session"].get("amount_total")),
        },
        request,
    )


@post("/demo/ovgc-webhooks", include_in_schema=False, status_code=204)
async def demo_ovgc_webhook(request: Request[Any, Any, Any], state: State) -> None:
    """Seed 001's handler: `payment.succeeded` with the session under `data`."""
    body = await request.body()
    secret = services_of(state).settings.dialects.ovgc.webhook_secret or ""
    valid = verify_ovgc(
        request.headers.get("x-webhook-timestamp", ""),
        request.headers.get("x-webhook-signature", ""),
        body,
        secret,
        int(time.time()),
    )
    event = json.loads(body)
    _keep(
        state,
        valid,
        {
            "event_type": f"ovgc {event['type']}",
            "merchant_order_id": event["data"]["id"],
            "status": event["data"]["status"],
            "amount": _cents(event["data"].get("amount")),
        },
        request,
    )


def _cents(total: int | None) -> str:
    return f"{total // 100}.{total % 100:02d}" if total is not None else ""


def dialect_webhook_routes() -> list[HTTPRouteHandler]:
    return [demo_opencheckout_webhook, demo_ovgc_webhook]
