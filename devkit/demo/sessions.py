"""The demo shop's second front door: buying through a Checkout Session, as a merchant migrating
from a hosted checkout does it (docs/checkout-sessions.md): create a session with the API key,
redirect the shopper to `session.url`, verify the webhook, retrieve the session on return."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.params import QueryParameter
from litestar.response import Redirect

from app.errors import InvalidInput
from app.http import services_of
from app.money import Amount
from app.sessions.signing import TOLERANCE_SECONDS, webhook_key
from devkit.demo.pages import CATALOG


def _demo(state: State) -> Any:
    return state.demo


async def _api(
    state: State, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> dict[str, Any]:
    shop = _demo(state)
    auth = {"Authorization": f"Bearer {shop.api_key}", **(headers or {})}
    async with httpx.AsyncClient(base_url=shop.base_url, timeout=10) as client:
        response = await client.request(method, path, headers=auth, **kwargs)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


DIALECTS = {
    "stablecheckout": "/api/v1/checkout/sessions",
    "opencheckout": "/api/checkout/sessions",
    "ovgc": "/api/checkout-sessions",
}
"""The demo's dialect switch: the same purchase through each API (docs/compatibility.md)."""
COMPLETED = {"stablecheckout": "complete", "opencheckout": "completed", "ovgc": "completed"}


def _return_url(state: State, dialect: str) -> str:
    base = _demo(state).base_url
    return f"{base}/demo/session-return?dialect={dialect}&session_id={{CHECKOUT_SESSION_ID}}"


async def _start(
    state: State, body: dict[str, Any], key: str, dialect: str = "stablecheckout"
) -> Redirect:
    body = {
        **body,
        "success_url": _return_url(state, dialect),
        "cancel_url": f"{_demo(state).base_url}/demo",
    }
    session = await _api(state, "POST", DIALECTS[dialect], {"Idempotency-Key": key}, json=body)
    return Redirect(session["url"], status_code=303)


async def _start_ovgc(state: State, cents: int, name: str, item: str) -> Redirect:
    """Seed 001's request: amount in cents, email, product_title, the two URLs."""
    body = {
        "amount": cents,
        "currency": "USD",
        "email": "shopper@demo.test",
        "product_title": name,
        "success_url": _return_url(state, "ovgc"),
        "cancel_url": f"{_demo(state).base_url}/demo",
        "metadata": {"item": item},
    }
    made = await _api(state, "POST", DIALECTS["ovgc"], json=body)
    return Redirect(made["data"]["checkout_url"], status_code=303)


@post("/demo/buy-session", include_in_schema=False, status_code=303)
async def demo_buy_session(request: Request[Any, Any, Any], state: State) -> Redirect:
    """Seed 000: `POST /api/checkout/sessions` with line items, then redirect to `session.url`."""
    form = await request.form()
    item = CATALOG.get(str(form.get("item", "")))
    if item is None:
        raise InvalidInput("unknown item")
    dialect = str(form.get("dialect", "stablecheckout"))
    if dialect not in DIALECTS:
        raise InvalidInput("unknown dialect")
    cents = Amount.parse(item.price).to_base_units(2)
    if dialect == "ovgc":
        return await _start_ovgc(state, cents, item.name, item.key)
    line = {
        "price_data": {
            "currency": "usd",
            "product_data": {"name": item.name, "description": item.blurb},
            "unit_amount": cents,
        },
        "quantity": 1,
    }
    body = {"mode": "payment", "line_items": [line], "metadata": {"item": item.key}}
    return await _start(state, body, f"demo-{item.key}-{time.time_ns()}", dialect)


@post("/demo/donate", include_in_schema=False, status_code=303)
async def demo_donate(state: State) -> Redirect:
    """A donation session: the shopper chooses the amount on our page."""
    line = {
        "price_data": {
            "currency": "usd",
            "product_data": {"name": "Support the demo shop"},
            "unit_amount": 500,
        },
        "quantity": 1,
    }
    body = {"mode": "donation", "line_items": [line], "amount_min": 100, "amount_max": 100_000}
    return await _start(state, body, f"demo-donation-{time.time_ns()}")


@get("/demo/session-return", include_in_schema=False, status_code=303)
async def demo_session_return(
    state: State,
    session_id: Annotated[str, QueryParameter(max_length=80)],
    dialect: Annotated[str, QueryParameter(max_length=20)] = "stablecheckout",
) -> Redirect:
    """The success_url: never trust the redirect alone, retrieve the session (in its dialect)."""
    if dialect not in DIALECTS:
        raise InvalidInput("unknown dialect")
    session = await _api(state, "GET", f"{DIALECTS[dialect]}/{quote(session_id)}")
    if dialect == "ovgc":
        session = session["data"]
    if session["status"] != COMPLETED[dialect]:
        return Redirect(f"/demo?session={quote(session['status'])}", status_code=303)
    name = (
        session["product_title"]
        if dialect == "ovgc"
        else session["line_items"][0]["price_data"]["product_data"]["name"]
    )
    return Redirect(f"/demo?paid={quote(name)}", status_code=303)


def verify(header: str, body: bytes, secret: str, now: int) -> bool:
    """docs/checkout-sessions.md's verifier: `t=…,v1=…`, HMAC-SHA256 over `t.body`, 5 minutes."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if not fields.get("t", "").isdigit() or "v1" not in fields:
        return False
    expected = hmac.new(
        secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    fresh = abs(now - int(fields["t"])) <= TOLERANCE_SECONDS
    return hmac.compare_digest(expected, fields["v1"]) and fresh


@post("/demo/session-webhooks", include_in_schema=False, status_code=204)
async def demo_session_webhook(request: Request[Any, Any, Any], state: State) -> None:
    body = await request.body()
    header = request.headers.get("stablecheckout-signature", "")
    valid = verify(header, body, webhook_key(services_of(state).settings), int(time.time()))
    event = json.loads(body)
    session = event["data"]["object"]
    total = session.get("amount_total")
    _demo(state).keep(
        valid,
        {
            "event_type": event["type"],
            "merchant_order_id": session["id"],
            "status": session["status"],
            "amount": f"{total // 100}.{total % 100:02d}" if total is not None else "",
        },
        request.headers.get("stablecheckout-attempt"),
    )


def session_routes() -> list[HTTPRouteHandler]:
    return [demo_buy_session, demo_donate, demo_session_return, demo_session_webhook]
