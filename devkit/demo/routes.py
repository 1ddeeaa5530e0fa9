"""The demo shop of `stablecheckout dev`: a merchant backend in miniature, on the same server.

It does what a real shop does — creates orders through the signed Service API over HTTP, signs
the checkout URL, receives and verifies webhooks — plus one thing only a local chain allows: a
test wallet that pays from a funded anvil account.
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
import sqlalchemy as sa
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Redirect
from litestar.router import Router

from app.errors import InvalidInput
from app.http import services_of
from app.money import format_base_units
from app.payments.models import Deposit, DepositStatus
from app.security.signatures import sign_body, sign_url
from devkit.demo.dialect_webhooks import dialect_webhook_routes
from devkit.demo.pages import CATALOG, DEMO_CURRENCY, shop_page, wallet_script
from devkit.demo.sessions import session_routes

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
    demo_of(state).webhooks.insert(
        0,
        {
            "valid": valid,
            "body": json.loads(body),
            "attempt": request.headers.get("stablecheckout-attempt"),
        },
    )
    del demo_of(state).webhooks[20:]


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


SIMULATED_CHAINS = ("tron", "solana", "bsc")
"""Chains whose payments the demo page makes from its own test wallets (not the browser's)."""


@get("/demo/tron-payments", include_in_schema=False)
async def demo_tron_payments(state: State) -> list[dict[str, Any]]:
    """Payments shoppers chose on TRON, Solana or BSC and have not paid yet (the demo's test
    wallets on those local chains pay them)."""
    async with services_of(state).sessionmaker() as session:
        rows = await session.scalars(
            sa.select(Deposit)
            .where(Deposit.blockchain.in_(SIMULATED_CHAINS), Deposit.status == DepositStatus.ACTIVE)
            .order_by(Deposit.id.desc())
            .limit(10)
        )
        return [
            {
                "deposit_id": d.id,
                "blockchain": d.blockchain,
                "coin": d.token,
                "order_id": str(d.order_id),
                "to": d.wallet_address,
                "amount": format_base_units(d.amount, d.decimals),
            }
            for d in rows
        ]


@post("/demo/tron-pay", include_in_schema=False, status_code=200)
async def demo_tron_pay(request: Request[Any, Any, Any], state: State) -> dict[str, str]:
    shop = demo_of(state)
    if shop.tron is None:
        raise InvalidInput("the TRON simulator is not running")
    deposit_id = int((await request.json()).get("deposit_id", 0))
    async with services_of(state).sessionmaker() as session:
        deposit = await session.get(Deposit, deposit_id)
    if deposit is not None and deposit.blockchain in ("solana", "bsc"):
        return {"txid": await pay_from_test_wallet(shop, deposit)}
    if deposit is None or deposit.blockchain != "tron":
        raise InvalidInput("unknown TRON payment")
    txid = shop.tron.transfer(
        shop.tron_token, shop.tron_payer, deposit.wallet_address, deposit.amount
    )
    return {"txid": txid}


async def pay_from_test_wallet(shop: DemoShop, deposit: Deposit) -> str:
    """Pay a Solana deposit the way a Solana Pay wallet does (with its reference), or a BSC one
    with a BEP-20 transfer on the BSC stand-in chain."""
    if deposit.blockchain == "solana":
        if shop.solana is None:
            raise InvalidInput("the Solana simulator is not running")
        mint = shop.solana_mints[deposit.token]
        references = (deposit.reference,) if deposit.reference else ()
        signature: str = shop.solana.transfer(
            shop.solana_payer, deposit.wallet_address, mint, deposit.amount, references=references
        )
        return signature
    if not shop.bsc_rpc_url:
        raise InvalidInput("the BSC chain is not running")
    from web3 import AsyncHTTPProvider, AsyncWeb3

    from devkit.chain.anvil import transfer_tokens

    w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(shop.bsc_rpc_url))
    try:
        return await transfer_tokens(
            w3, shop.bsc_token, deposit.wallet_address, deposit.amount, sender=shop.payer
        )
    finally:
        await w3.provider.disconnect()


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
            demo_tron_payments,
            demo_tron_pay,
            *session_routes(),
            *dialect_webhook_routes(),
        ],
    )
