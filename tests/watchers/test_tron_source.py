"""TronSource against the simulator: failover, backoff, API key, lagging nodes, finality modes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from app.chains import Blockchain, Coin
from app.config import load_settings
from devkit.chain.tron_simulator import TronSimulator
from tests.conftest import free_port
from tests.watchers.tronflow import PAYER, WALLET, tron_config
from watchers.base import ChainSource, SourceUnavailable
from watchers.registry import build_sources
from watchers.tron import TronSource


@pytest.fixture
async def sim() -> AsyncIterator[TronSimulator]:
    async with TronSimulator() as simulator:
        simulator.produce(3)
        yield simulator


@pytest.fixture
def token(sim: TronSimulator) -> str:
    return sim.deploy_token()


def source(urls: list[str], token: str, **options: object) -> TronSource:
    options.setdefault("request_timeout", 10.0)
    options.setdefault("backoff_base", 0.01)
    return TronSource(urls, {Coin.USDT: (token, 6)}, [WALLET], **options)  # type: ignore[arg-type]


async def test_finality_modes(sim: TronSimulator, token: str) -> None:
    sim.solidify(1)
    async with source([sim.url], token) as solid, source([sim.url], token, finality="head") as head:
        assert isinstance(solid, ChainSource)
        assert (await solid.head(), await head.head()) == (1, 3)
        sim.solidity_api = False  # a self-hosted node's full-node port: no /walletsolidity/
        sim.solidify(2)
        assert await solid.head() == 2, "falls back to wallet/getnodeinfo's solidityBlock"
        assert ("/wallet/getnodeinfo", None) in sim.requests


async def test_failover_to_the_next_url(sim: TronSimulator, token: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    sim.transfer(token, PAYER, WALLET, 5)
    sim.produce()
    async with source([dead, sim.url], token, finality="head") as tron:
        assert await tron.head() == 4
        assert tron.active_url == sim.url
        assert [t.amount for t in await tron.transfers(1, 4)] == [5]
    async with source([dead], token) as tron:
        with pytest.raises(SourceUnavailable, match="every URL"):
            await tron.head()


async def test_backs_off_on_429_and_503(sim: TronSimulator, token: str) -> None:
    async with source([sim.url], token, finality="head", throttle_retries=3) as tron:
        sim.fail_requests(429, 2, retry_after=0.05)
        sim.fail_requests(503, 1)
        started = time.monotonic()
        assert await tron.head() == 3
        assert time.monotonic() - started >= 0.1, "Retry-After is honoured"
        sim.fail_requests(503, 4)
        with pytest.raises(SourceUnavailable, match="HTTP 503"):
            await tron.head()


async def test_api_key_header_on_every_request_to_any_host(sim: TronSimulator, token: str) -> None:
    async with source([sim.url + "/"], token, api_key="secret-key") as tron:
        await tron.head()
        await tron.block_hash(2)
        await tron.transfers(1, 3)
    assert sim.requests and {key for _, key in sim.requests} == {"secret-key"}


async def test_a_lagging_node_is_not_taken_for_empty_blocks(sim: TronSimulator, token: str) -> None:
    sim.transfer(token, PAYER, WALLET, 77)
    sim.produce(2)
    # A second node on the same chain, two blocks behind: it would answer [] for blocks 4 and 5.
    lagging = TronSimulator(seed=sim.seed)
    lagging.blocks = sim.blocks[:-2]
    async with lagging, source([lagging.url, sim.url], token, finality="head") as tron:
        found = await tron.transfers(1, sim.head.number)
        assert [t.amount for t in found] == [77]
        assert tron.active_url == sim.url


async def test_block_hash_and_missing_blocks(sim: TronSimulator, token: str) -> None:
    async with source([sim.url], token) as tron:
        assert await tron.block_hash(3) == sim.blocks[3].block_id
        assert await tron.block_hash(0) == sim.blocks[0].block_id
        assert await tron.block_hash(99) is None
        assert await tron.block_hash(-1) is None
        assert await tron.transfers(2, 1) == []


async def test_wait_for_new_head_follows_the_block_rhythm(sim: TronSimulator, token: str) -> None:
    async with source([sim.url], token, poll_interval=2.0, min_poll=0.05) as tron:
        started = time.monotonic()
        await tron.wait_for_new_head(0.3)
        assert time.monotonic() - started < 0.5, "capped by the timeout"
        await tron.head()
        started = time.monotonic()
        await tron.wait_for_new_head(10)
        waited = time.monotonic() - started
        assert 1.5 < waited <= 2.2, "until just before the next block, capped by the interval"


async def test_registry_builds_a_tron_source(
    database_url: str, sim: TronSimulator, token: str
) -> None:
    settings = load_settings(None, **tron_config(database_url, sim, token, confirmations=20))
    sources = build_sources(settings)
    try:
        [tron] = [s for s in sources if s.blockchain == Blockchain.TRON]
        assert isinstance(tron, TronSource) and tron.finality == "head"
        assert tron.tokens[Coin.USDT].contract == token
        assert tron.wallets == {WALLET}
    finally:
        for s in sources:
            await s.close()
    await asyncio.sleep(0)
