"""BNB Smart Chain: 18-decimal stablecoins end to end, and the chain id check every EVM chain gets.

The chain is a real anvil with the TestUSDT contract standing in for BSC-USD: the amounts are 18
decimal base units as on BSC (10^19 and more, beyond int64), carried through the unique-amount
step, the payment detail, a real ERC-20 transfer, the watcher and the matcher.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from web3 import AsyncWeb3

from app.chains import CHAINS, COIN_DECIMALS, Blockchain, Coin
from app.config import load_settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.http import Services
from app.money import Amount
from app.orders.schemas import CreateOrderRequest
from app.orders.service import create_order
from app.payments.service import create_payment
from app.transfers.service import MatchRules
from devkit.chain.anvil import AnvilProcess, deploy_token, mine, transfer_tokens
from tests.conftest import settings_dict
from tests.watchers.chainflow import ORDER_WEBHOOK, Recorder, order_status
from tests.watchers.conftest import PAYER, WALLET
from watchers.base import SourceMisconfigured
from watchers.evm import EvmSource
from watchers.runner import ChainRunner, RunnerOptions

ONE = 10**18


def bsc_config(database_url: str, rpc_url: str, token: str, **chain: Any) -> dict[str, Any]:
    bsc: dict[str, Any] = {
        "rpc_urls": [rpc_url],
        "confirmations": 2,
        "chain_id": 31337,
        "tokens": {"USDT": {"contract": token, "decimals": 18}},
    }
    bsc.update(chain)
    data = settings_dict(database_url, chains={"bsc": bsc})
    data["wallets"] = [{"blockchain": "bsc", "address": WALLET, "enabled_coins": ["USDT"]}]
    return data


def test_bsc_is_chain_56_with_18_decimal_usdt_and_usdc() -> None:
    info = CHAINS[Blockchain.BSC]
    assert info.evm_chain_id == 56 and info.confirmations >= 1
    assert info.tokens[Coin.USDT].contract == "0x55d398326f99059fF775485246999027B3197955"
    assert info.tokens[Coin.USDC].contract == "0x8AC76a51cc950d9822D68b83fE1Ad97B32Cd580d"
    assert {t.decimals for t in info.tokens.values()} == {18}
    # Orders are checked against the coarsest chain, so 6 decimals stay the limit for USDT.
    assert COIN_DECIMALS[Coin.USDT] == 6 and COIN_DECIMALS[Coin.USDC] == 6


async def test_18_decimal_amounts_survive_the_round_trip_and_get_paid(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any]
) -> None:
    token = await deploy_token(w3, mint={PAYER: 1000 * ONE})
    start = await w3.eth.block_number
    settings = load_settings(
        None, **bsc_config(database_url, anvil.http_url, token, start_block=start + 1)
    )
    engine = create_engine(settings.database_url)
    recorder = Recorder()
    services = Services(settings, engine, create_sessionmaker(engine), recorder)
    source = EvmSource.from_settings("bsc", settings.chains[Blockchain.BSC], settings.wallets)
    runner = ChainRunner(
        services,
        source,
        MatchRules.for_chain(settings, "bsc"),
        "test",
        RunnerOptions(start_block=start + 1),
    )
    try:
        details = []
        async with unit_of_work(services.sessionmaker) as session:
            for _ in range(2):
                order = await create_order(
                    session,
                    settings,
                    CreateOrderRequest(
                        order_id=f"m-{uuid.uuid4().hex[:8]}",
                        amount="12.345678",
                        webhook_url=ORDER_WEBHOOK,
                    ),
                )
                details.append(
                    await create_payment(session, settings, order.id, Blockchain.BSC, Coin.USDT)
                )
        first, second = details
        assert (first.amount, first.amount_base_units, first.decimals) == (
            "12.345678",
            "12345678000000000000",
            18,
        )
        # The unique-amount step (0.0001) is 10^14 base units at 18 decimals.
        assert (second.amount, second.amount_base_units) == ("12.345778", "12345778000000000000")
        for detail in details:
            assert Amount.parse(detail.amount).to_base_units(18) == int(detail.amount_base_units)
        assert first.payment_uri == (
            f"ethereum:{token}@31337/transfer?address={WALLET}&uint256=12345678000000000000"
        )

        await transfer_tokens(w3, token, WALLET, int(second.amount_base_units), sender=PAYER)
        await mine(w3, 3)
        for _ in range(20):
            if not await runner.step():
                break
        assert await order_status(services.sessionmaker, second.order_id) == "paid"
        assert await order_status(services.sessionmaker, first.order_id) == "pending"
    finally:
        await source.close()
        await engine.dispose()


def test_payment_uri_names_chain_56_on_mainnet_config(database_url: str) -> None:
    from app.payments.service import payment_uri
    from app.tokens import find_option

    data = settings_dict(database_url)
    data["wallets"] = [{"blockchain": "bsc", "address": WALLET, "enabled_coins": ["USDC"]}]
    option = find_option(load_settings(None, **data), Blockchain.BSC, Coin.USDC)
    assert option is not None and option.chain_id == 56 and option.token.decimals == 18
    assert payment_uri(option, WALLET, 5 * ONE, 18) == (
        "ethereum:0x8AC76a51cc950d9822D68b83fE1Ad97B32Cd580d@56/transfer"
        f"?address={WALLET}&uint256=5000000000000000000"
    )


async def test_a_node_of_another_chain_stops_the_watcher(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """bsc configured as chain 56 (the default), its RPC URL pointing at anvil (31337)."""
    token = await deploy_token(w3)
    data = bsc_config(database_url, anvil.http_url, token)
    del data["chains"]["bsc"]["chain_id"]
    settings = load_settings(None, **data)
    source = EvmSource.from_settings("bsc", settings.chains[Blockchain.BSC], settings.wallets)
    try:
        with pytest.raises(SourceMisconfigured, match=r"chain id 31337.*chain id 56"):
            await source.head()
    finally:
        await source.close()

    engine = create_engine(settings.database_url)
    services = Services(settings, engine, create_sessionmaker(engine), Recorder())
    source = EvmSource.from_settings("bsc", settings.chains[Blockchain.BSC], settings.wallets)
    runner = ChainRunner(
        services,
        source,
        MatchRules.for_chain(settings, "bsc"),
        "test",
        RunnerOptions(backoff_seconds=0.05, idle_wait_seconds=0.05),
    )
    try:
        # The loop ends by itself: a mis-pointed node is not an outage to retry.
        await asyncio.wait_for(runner.run(asyncio.Event()), 10)
    finally:
        await source.close()
        await engine.dispose()
    assert "watcher.stopped blockchain=bsc" in caplog.text
    assert "is chain id 31337, but bsc is configured as chain id 56" in caplog.text


async def test_the_right_chain_id_passes_and_every_failover_url_is_checked(
    anvil: AnvilProcess, w3: AsyncWeb3[Any]
) -> None:
    token = await deploy_token(w3)
    good = EvmSource("bsc", [anvil.http_url], {Coin.USDT: (token, 18)}, [WALLET], chain_id=31337)
    dead_then_wrong = EvmSource(
        "bsc",
        ["http://127.0.0.1:9", anvil.http_url],
        {Coin.USDT: (token, 18)},
        [WALLET],
        chain_id=56,
        request_timeout=2.0,
    )
    try:
        assert await good.head() == await w3.eth.block_number
        with pytest.raises(SourceMisconfigured):
            await dead_then_wrong.head()
    finally:
        await good.close()
        await dead_then_wrong.close()
