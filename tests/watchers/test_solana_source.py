"""SolanaSource against the local Solana JSON-RPC node (real keys, signatures, SPL instructions).

No validator runs here: `SolanaSimulator` answers the standard methods with the documented shapes
(checked against the docs' examples in tests/watchers/fixtures/solana/ by test_solana_simulator).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature

from app.chains import Coin
from devkit.chain.solana_simulator import SolanaSimulator
from watchers.base import SourceUnavailable
from watchers.solana import SolanaSource, associated_token_account

USDC = 10**6


@pytest.fixture
async def sim() -> AsyncIterator[SolanaSimulator]:
    async with SolanaSimulator(finality_lag=2) as node:
        yield node


class Chain:
    def __init__(self, sim: SolanaSimulator) -> None:
        self.sim = sim
        self.mint = sim.create_mint(6)
        self.other_mint = sim.create_mint(6)
        self.payer = sim.keypair(self.mint, 1000 * USDC)
        sim.ledger.fund(str(self.payer.pubkey()), self.other_mint, 1000 * USDC)
        self.wallet = str(Keypair().pubkey())
        self.sources: list[SolanaSource] = []

    def source(self, urls: list[str] | None = None, **options: Any) -> SolanaSource:
        options.setdefault("poll_interval", 0.1)
        options.setdefault("request_timeout", 3.0)
        source = SolanaSource(
            urls or [self.sim.url],
            {Coin.USDC: (self.mint, 6)},
            [self.wallet],
            **options,
        )
        self.sources.append(source)
        return source


@pytest.fixture
async def chain(sim: SolanaSimulator) -> AsyncIterator[Chain]:
    made = Chain(sim)
    yield made
    for source in made.sources:
        await source.close()


async def test_the_associated_token_account_is_the_real_derivation() -> None:
    # The USDC associated account of a well-known wallet, as explorers show it.
    owner = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
    usdc = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    expected, _ = Pubkey.find_program_address(
        [
            bytes(Pubkey.from_string(owner)),
            bytes(Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")),
            bytes(Pubkey.from_string(usdc)),
        ],
        Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"),
    )
    assert associated_token_account(owner, usdc) == str(expected)
    assert not Pubkey.from_string(str(expected)).is_on_curve()  # a PDA, no private key


async def test_transfers_outer_inner_checked_unchecked_and_references(chain: Chain) -> None:
    sim, source = chain.sim, chain.source()
    start = await source.head()
    reference = str(Keypair().pubkey())
    paid = sim.transfer(chain.payer, chain.wallet, chain.mint, 12_345_678, references=(reference,))
    plain = sim.transfer(chain.payer, chain.wallet, chain.mint, 5, checked=False)
    routed = sim.transfer(chain.payer, chain.wallet, chain.mint, 7, inner=True)
    sim.transfer(chain.payer, chain.wallet, chain.other_mint, 9)  # a mint we do not watch
    sim.transfer(chain.payer, str(Keypair().pubkey()), chain.mint, 11)  # someone else
    failed = sim.transfer(chain.payer, chain.wallet, chain.mint, 10**15)  # insufficient funds
    block = sim.produce()[0]
    head = await source.head()
    assert head == block.slot
    found = await source.transfers(start + 1, head)
    by_sig = {t.tx_hash: t for t in found}
    assert set(by_sig) == {paid, plain, routed}
    assert failed not in by_sig
    first = by_sig[paid]
    assert (first.amount, first.token, first.contract_address) == (
        12_345_678,
        Coin.USDC,
        chain.mint,
    )
    assert first.to_address == chain.wallet and first.from_address == str(chain.payer.pubkey())
    assert first.references == (reference,)
    assert (first.block_number, first.block_hash) == (block.slot, block.blockhash)
    assert by_sig[plain].amount == 5 and by_sig[plain].references == ()
    assert by_sig[routed].log_index == 1  # the first inner instruction of outer instruction 0
    # The signature is a real ed25519 signature of the message by the payer.
    tx = sim.ledger.by_signature[paid]
    signed = to_bytes_versioned(tx.message)
    assert Signature.from_string(paid).verify(chain.payer.pubkey(), signed)
    assert not Signature.from_string(paid).verify(Keypair().pubkey(), signed)


async def test_any_token_account_the_owner_holds_is_watched(chain: Chain) -> None:
    sim, source = chain.sim, chain.source(account_refresh=0)
    second = sim.ledger.open_account(chain.wallet, chain.mint)
    start = await source.head()
    sig = sim.transfer(chain.payer, chain.wallet, chain.mint, 42, to_account=second)
    sim.produce()
    found = await source.transfers(start + 1, await source.head())
    assert [(t.tx_hash, t.to_address, t.amount) for t in found] == [(sig, chain.wallet, 42)]
    assert second in await source.accounts()


async def test_paging_reads_every_signature_of_a_busy_account(chain: Chain) -> None:
    sim, source = chain.sim, chain.source(page_size=50)
    start = await source.head()
    sent = set()
    for round_ in range(7):
        for i in range(31):
            sent.add(sim.transfer(chain.payer, chain.wallet, chain.mint, round_ * 100 + i + 1))
        sim.produce(skip=round_ % 2)
    head = await source.head()
    found = await source.transfers(start + 1, head)
    assert {t.tx_hash for t in found} == sent
    assert sim.calls["getSignaturesForAddress"] >= 217 // 50
    # A narrower range reads only its own slots.
    middle = sorted({t.block_number for t in found})[3]
    assert {t.block_number for t in await source.transfers(middle, middle)} == {middle}


async def test_commitments_skipped_slots_and_an_abandoned_block(chain: Chain) -> None:
    sim, source = chain.sim, chain.source()
    sim.produce(3)
    sim.hold_confirmation = True
    sim.transfer(chain.payer, chain.wallet, chain.mint, 1)
    processed = sim.produce()[0]
    assert await source.head() < processed.slot  # processed is not confirmed
    assert await source.block_hash(processed.slot) is None
    sim.confirm()
    assert await source.head() == processed.slot
    assert await source.block_hash(processed.slot) == processed.blockhash
    assert await source.finalized_head() == processed.slot - 2

    sim.hold_confirmation = False
    skipped_from = sim.ledger.slot + 1
    after_gap = sim.produce(skip=2)[0]
    gap_hash = await source.block_hash(skipped_from)
    assert gap_hash is not None and processed.blockhash in gap_hash

    sig = sim.transfer(chain.payer, chain.wallet, chain.mint, 2)
    doomed = sim.produce()[0]
    assert [t.tx_hash for t in await source.transfers(doomed.slot, doomed.slot)] == [sig]
    sim.abandon(doomed.slot)
    replacement = sim.produce()[0]
    assert replacement.slot > doomed.slot
    assert await source.block_hash(doomed.slot) != doomed.blockhash  # the runner rewinds
    assert await source.transfers(doomed.slot, replacement.slot) == []
    assert after_gap.slot < doomed.slot


async def test_throttling_backs_off_and_dead_urls_fail_over(chain: Chain) -> None:
    sim = chain.sim
    source = chain.source(["http://127.0.0.1:9/", sim.url])
    sim.fail_requests(2, 429)
    assert await source.head() == sim.ledger.confirmed
    assert source.rpc.throttled == 2 and source.rpc.active_url == sim.url
    await sim.stop()
    with pytest.raises(SourceUnavailable, match="every RPC URL"):
        await source.head()


async def test_subscriptions_wake_the_runner_on_confirmation(chain: Chain) -> None:
    sim = chain.sim
    source = chain.source([sim.url, sim.ws_url], poll_interval=5.0)
    assert await source.subscribe()
    await asyncio.sleep(0.1)
    start = time.monotonic()
    waiter = asyncio.create_task(source.wait_for_new_head(5.0))
    await asyncio.sleep(0.05)
    sim.transfer(chain.payer, chain.wallet, chain.mint, 3)
    sim.produce()
    await waiter
    assert time.monotonic() - start < 1.0


async def test_a_configured_solana_chain_gets_a_solana_source(database_url: str) -> None:
    from app.config import load_settings
    from app.db import create_engine, create_sessionmaker
    from app.http import Services
    from tests.conftest import settings_dict
    from watchers.registry import build_sources, watcher_jobs

    data = settings_dict(database_url, chains={"solana": {"rpc_urls": ["http://127.0.0.1:9/"]}})
    data["wallets"] = [
        {"blockchain": "solana", "address": str(Keypair().pubkey()), "enabled_coins": ["USDT"]}
    ]
    settings = load_settings(None, **data)
    [source] = build_sources(settings)
    assert isinstance(source, SolanaSource) and source.blockchain == "solana"
    engine = create_engine(database_url)
    try:
        services = Services(settings, engine, create_sessionmaker(engine), None)
        assert len(watcher_jobs(services, [source])) == 1
    finally:
        await source.close()
        await engine.dispose()


async def test_subscriptions_come_back_after_the_node_restarts(chain: Chain) -> None:
    sim = chain.sim
    source = chain.source([sim.url, sim.ws_url], poll_interval=0.2)
    assert await source.subscribe()
    await sim.stop()
    for _ in range(50):
        if not source.subscribed:
            break
        await asyncio.sleep(0.1)
    assert not source.subscribed
    # Meanwhile waiting falls back to the poll interval instead of hanging.
    started = time.monotonic()
    await source.wait_for_new_head(5.0)
    assert time.monotonic() - started < 1.0
    await sim.start()
    assert await source.subscribe(10.0)
