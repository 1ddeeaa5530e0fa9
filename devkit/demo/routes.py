"""The demo shop of `stablecheckout dev`: a merchant backend in miniature, on the same server.

It does what a real shop does — creates orders through the signed Service API over HTTP, signs
the checkout URL, receives and verifies webhooks — plus one thing only a local chain allows: test
wallets that pay from funded accounts (`devkit.demo.wallets`: exactly, short, twice or late).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Redirect
from litestar.router import Router

from app.errors import InvalidInput
from app.http import services_of
from app.security.signatures import sign_body, sign_url
from devkit.demo.dialect_webhooks import dialect_webhook_routes
from devkit.demo.pages import CATALOG, DEMO_CURRENCY, shop_page, wallet_script
from devkit.demo.sessions import session_routes
from devkit.demo.wallets import wallet_routes

ALLOWED_WALLET_METHODS = {
    "eth_chainId",
    "eth_accounts",
    "eth_requestAccounts",
    "wallet_switchEthereumChain",
    "eth_sendTransaction",
    "eth_getTransactionReceipt",
    "eth_blockNumber",
}


@dataclass
class DemoShop:
    """What the demo needs to know about its surroundings (set by `devkit.server`)."""

    base_url: str
    rpc_url: str
    payer: str
    token: str
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    """The newest webhooks the shop received (`keep`), shown on its page."""
    tron: Any = None
    """The TRON simulator (`devkit.chain.tron_simulator.TronSimulator`), when running."""
    tron_token: str = ""
    tron_payer: str = ""
    solana: Any = None
    """The Solana simulator (`devkit.chain.solana_simulator.SolanaSimulator`), when running."""
    solana_payer: Any = None
    """A funded `solders` Keypair on it."""
    solana_mints: dict[str, str] = field(default_factory=dict)
    """Coin -> mint on the Solana simulator."""
    bsc_rpc_url: str = ""
    """A second anvil with chain id 56 standing for BNB Smart Chain."""
    bsc_token: str = ""
    api_key: str = ""
    """A test-mode secret key for the Checkout Sessions front door (`devkit.demo.sessions`)."""

    def keep(self, valid: bool, body: dict[str, Any], attempt: str | None) -> None:
        """Log a received webhook (newest first, the last 20) with whether it verified."""
        self.webhooks.insert(0, {"valid": valid, "body": body, "attempt": attempt})
        del self.webhooks[20:]


def demo_of(state: State) -> DemoShop:
    shop: DemoShop = state.demo
    return shop


def checkout_link(base_url: str, secret: str, order_id: str) -> tuple[str, str]:
    signed = f"{base_url}/checkout/?order_id={order_id}"
    return signed, sign_url(secret, signed, int(time.time()))


@get("/demo", media_type=MediaType.HTML, include_in_schema=False)
async def demo_home(state: State) -> str:
    return shop_page(demo_of(state))


@post("/demo/buy", include_in_schema=False, status_code=303)
async def demo_buy(request: Request[Any, Any, Any], state: State) -> Redirect:
    """Create the order the way any merchant backend would: a signed Service API call."""
    form = await request.form()
    item = CATALOG.get(str(form.get("item", "")))
    if item is None:
        raise InvalidInput("unknown item")
    shop = demo_of(state)
    secret = services_of(state).settings.merchant.secret
    body = json.dumps(
        {
            "order_id": f"demo-{int(time.time() * 1000)}",
            "amount": item.price,
            "currency": DEMO_CURRENCY,
            "webhook_url": f"{shop.base_url}/demo/webhooks",
            "success_url": f"{shop.base_url}/demo?paid={quote(item.name)}",
            "cancel_url": f"{shop.base_url}/demo",
            "metadata": {"item": item.key},
        },
        separators=(",", ":"),
    ).encode()
    async with httpx.AsyncClient(base_url=shop.base_url, timeout=10) as client:
        response = await client.post(
            "/api/v1/service/orders",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Ocrch-Signature": sign_body(secret, body, int(time.time())),
            },
        )
    response.raise_for_status()
    signed, signature = checkout_link(shop.base_url, secret, response.json()["order_id"])
    return Redirect(f"{signed}&sig={quote(signature, safe='')}", status_code=303)


@get("/demo/refresh-signature", include_in_schema=False)
async def demo_refresh(
    state: State, order_id: Annotated[str, QueryParameter(name="order_id")]
) -> dict[str, str]:
    """The endpoint a shop offers its checkout page when the page's signature expired."""
    shop = demo_of(state)
    signed, signature = checkout_link(
        shop.base_url, services_of(state).settings.merchant.secret, order_id
    )
    return {"signed_url": signed, "signature": signature}


@post("/demo/webhooks", include_in_schema=False, status_code=204)
async def demo_webhook(request: Request[Any, Any, Any], state: State) -> None:
    """Verify like a merchant would (docs/webhooks.md), then keep it to show on the shop page."""
    body = await request.body()
    header = request.headers.get("ocrch-signature", "")
    ts, _, sig = header.partition(".")
    secret = services_of(state).settings.merchant.secret.encode()
    mac = base64.b64encode(hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).digest())
    valid = hmac.compare_digest(mac.decode().rstrip("="), sig.rstrip("="))
    demo_of(state).keep(valid, json.loads(body), request.headers.get("stablecheckout-attempt"))


@get("/demo/webhooks.json", include_in_schema=False)
async def demo_webhooks(state: State) -> list[dict[str, Any]]:
    return demo_of(state).webhooks


@get("/demo/test-wallet.js", media_type="text/javascript", include_in_schema=False)
async def demo_wallet_script(state: State) -> str:
    return wallet_script(demo_of(state))


@post("/demo/rpc", include_in_schema=False, status_code=200)
async def demo_rpc(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """The test wallet's JSON-RPC: a few wallet methods, answered from the funded anvil account."""
    shop = demo_of(state)
    call = await request.json()
    method, params = call.get("method"), call.get("params") or []
    if method not in ALLOWED_WALLET_METHODS:
        return Response({"error": {"code": 4200, "message": f"{method} not supported"}})
    if method in ("eth_accounts", "eth_requestAccounts"):
        return Response({"result": [shop.payer]})
    if method == "wallet_switchEthereumChain":
        return Response({"result": None})
    if method == "eth_sendTransaction":
        params = [{**params[0], "from": shop.payer}]
    async with httpx.AsyncClient(timeout=10) as client:
        answer = (
            await client.post(
                shop.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            )
        ).json()
    return Response({k: v for k, v in answer.items() if k in ("result", "error")})


def demo_router() -> Router:
    return Router(
        path="/",
        route_handlers=[
            demo_home,
            demo_buy,
            demo_refresh,
            demo_webhook,
            demo_webhooks,
            demo_wallet_script,
            demo_rpc,
            *wallet_routes(),
            *session_routes(),
            *dialect_webhook_routes(),
        ],
    )
