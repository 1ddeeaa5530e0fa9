"""The demo's test wallets: funded accounts on the local chains that pay the shop's open deposits,
exactly or the ways real shoppers get it wrong (docs/payments.md):

    exact   the deposit's amount, once
    short   less than asked: half of it where a reference ties a transfer to its deposit whatever
            the amount (Solana Pay), else what an exchange's withdrawal fee leaves (half the match
            band short: attributed, beyond the default tolerance) -> the order is partly paid and
            the page asks for the rest
    twice   the exact amount, two transfers -> paid, the second a `duplicate` listed for refund
    late    the order ends now (as a merchant expiring its checkout), then the exact amount
            arrives in a later block -> `late`, reported and listed for refund

Everything past the sending is the server's own doing: the watchers see the transfers, the rules
settle them, the webhooks reach the demo shop's log.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from web3 import AsyncHTTPProvider, AsyncWeb3

from app.db import unit_of_work
from app.errors import InvalidInput
from app.http import Services, services_of
from app.money import format_base_units
from app.orders import lifecycle
from app.orders.events import Actor
from app.orders.models import OrderStatus
from app.payments.models import Deposit, DepositStatus
from devkit.chain.anvil import transfer_tokens

if TYPE_CHECKING:
    from devkit.demo.routes import DemoShop

WAYS = ("exact", "short", "twice", "late")
EVM_CHAINS = ("eth", "bsc")
CHAIN_CLOCK_WAIT = 15.0
"""Seconds at most to wait for a block stamped after the order ended."""


def _shop(state: State) -> DemoShop:
    shop: DemoShop = state.demo
    return shop


@get(["/demo/payments", "/demo/tron-payments"], include_in_schema=False)
async def demo_open_payments(state: State) -> list[dict[str, Any]]:
    """Payments shoppers chose and have not paid yet, on any chain (newest first): the demo's
    test wallets pay them from the shop page."""
    async with services_of(state).sessionmaker() as session:
        rows = await session.scalars(
            sa.select(Deposit)
            .where(Deposit.status == DepositStatus.ACTIVE)
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


@post(["/demo/test-pay", "/demo/tron-pay"], include_in_schema=False, status_code=200)
async def demo_test_pay(request: Request[Any, Any, Any], state: State) -> dict[str, Any]:
    """`{"deposit_id": …, "way": "exact" | "short" | "twice" | "late"}` (default exact)."""
    body = await request.json()
    way = str(body.get("way", "exact"))
    if way not in WAYS:
        raise InvalidInput(f"way must be one of {', '.join(WAYS)}")
    services = services_of(state)
    async with services.sessionmaker() as session:
        deposit = await session.get(Deposit, int(body.get("deposit_id", 0)))
    if deposit is None or deposit.status != DepositStatus.ACTIVE:
        raise InvalidInput("no open payment with that deposit_id")
    shop = _shop(state)
    amounts = {
        "exact": [deposit.amount],
        "short": [short_amount(services, deposit)],
        "twice": [deposit.amount, deposit.amount],
        "late": [deposit.amount],
    }[way]
    if way == "late":
        await end_order_now(services, deposit)
        await _chain_clock_past(shop, deposit.blockchain, int(time.time()) + 1)
    txids = [await send(shop, deposit, amount) for amount in amounts]
    return {
        "way": way,
        "order_id": str(deposit.order_id),
        "amounts": [format_base_units(a, deposit.decimals) for a in amounts],
        "txids": txids,
        "txid": txids[0],
    }


def short_amount(services: Services, deposit: Deposit) -> int:
    """What "pay short" sends: half where a reference attributes any amount, else the deposit
    less half the match band (what an exchange's fee leaves; still attributed to this deposit).
    With `match_band = "0"` that is one base unit short, which no rule attributes."""
    if deposit.reference:
        return deposit.amount // 2
    band = services.settings.payments.match_band.allowance(deposit.amount, deposit.decimals)
    return deposit.amount - max(band // 2, 1)


async def end_order_now(services: Services, deposit: Deposit) -> None:
    """Through the lifecycle, as a merchant expiring its checkout does: the order expires with
    `expires_at` = now, so a payment from here on is late."""
    async with unit_of_work(services.sessionmaker, services.publisher) as session:
        moved = await lifecycle.move(
            session,
            deposit.order_id,
            OrderStatus.EXPIRED,
            lifecycle.Request(by=Actor.MERCHANT, end_now=True),
        )
        if moved is None:
            raise InvalidInput("the order is no longer pending")


async def _chain_clock_past(shop: DemoShop, blockchain: str, second: int) -> None:
    """Wait until the chain stamps blocks at `second` or later (block times are whole seconds,
    so such a block is after an order that ended in the second before)."""
    deadline = time.monotonic() + CHAIN_CLOCK_WAIT
    if blockchain not in EVM_CHAINS:  # the simulators stamp blocks with the wall clock
        await asyncio.sleep(max(0.0, second - time.time()) + 0.05)
        return
    w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(_evm(shop, blockchain)[0]))
    try:
        while (await w3.eth.get_block("latest"))["timestamp"] < second:
            if time.monotonic() > deadline:
                raise InvalidInput(f"{blockchain} produced no block after the order ended")
            await asyncio.sleep(0.2)
    finally:
        await w3.provider.disconnect()


def _evm(shop: DemoShop, blockchain: str) -> tuple[str, str]:
    """(rpc url, token) of the local EVM chain standing for `blockchain`."""
    if blockchain == "bsc":
        if not shop.bsc_rpc_url:
            raise InvalidInput("the BSC chain is not running")
        return shop.bsc_rpc_url, shop.bsc_token
    return shop.rpc_url, shop.token


async def send(shop: DemoShop, deposit: Deposit, amount: int) -> str:
    """One transfer of `amount` base units to the deposit's wallet from that chain's test wallet
    (on Solana with the deposit's Solana Pay reference, as a wallet following the link does)."""
    if deposit.blockchain == "tron":
        if shop.tron is None:
            raise InvalidInput("the TRON simulator is not running")
        txid: str = shop.tron.transfer(
            shop.tron_token, shop.tron_payer, deposit.wallet_address, amount
        )
        return txid
    if deposit.blockchain == "solana":
        if shop.solana is None:
            raise InvalidInput("the Solana simulator is not running")
        references = (deposit.reference,) if deposit.reference else ()
        signature: str = shop.solana.transfer(
            shop.solana_payer,
            deposit.wallet_address,
            shop.solana_mints[deposit.token],
            amount,
            references=references,
        )
        return signature
    if deposit.blockchain not in EVM_CHAINS:
        raise InvalidInput(f"the demo has no test wallet on {deposit.blockchain}")
    rpc_url, token = _evm(shop, deposit.blockchain)
    w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(rpc_url))
    try:
        return await transfer_tokens(w3, token, deposit.wallet_address, amount, sender=shop.payer)
    finally:
        await w3.provider.disconnect()


def wallet_routes() -> list[HTTPRouteHandler]:
    return [demo_open_payments, demo_test_pay]
