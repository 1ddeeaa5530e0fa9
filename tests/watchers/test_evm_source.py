"""EvmSource against a real anvil node and the real TestUSDT contract (compiled by solc)."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3

from app.chains import Blockchain, Coin
from devkit.chain.anvil import (
    ANVIL_ACCOUNTS,
    AnvilProcess,
    batch_transfer_tokens,
    deploy_token,
    free_port,
    mine,
    mint_tokens,
    revert,
    snapshot,
    token_balance,
    transfer_tokens,
)
from tests.watchers.conftest import (
    OTHER_WALLET,
    PAYER,
    STRANGER,
    WALLET,
    ProxyFactory,
    SourceFactory,
    unavailable,
)
from watchers.base import ChainSource, ObservedTransfer, SourceUnavailable
from watchers.evm import (
    TRANSFER_TOPIC,
    EvmSource,
    EvmToken,
    address_topic,
    is_range_error,
    normalize_address,
    parse_transfer_log,
    suggested_span,
)


async def receipt_of(w3: AsyncWeb3[Any], tx_hash: str) -> Any:
    return await w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]


async def block_time(w3: AsyncWeb3[Any], number: int) -> datetime:
    block = await w3.eth.get_block(number)
    return datetime.fromtimestamp(block["timestamp"], tz=UTC)


# ---------------------------------------------------------------------------------------------
# What is found, and what is not


async def test_transfer_to_our_wallet_is_found_exactly(
    w3: AsyncWeb3[Any], token: str, make_source: SourceFactory
) -> None:
    source = make_source()
    assert isinstance(source, ChainSource)
    tx = await transfer_tokens(w3, token, WALLET, 12_345_678, sender=PAYER)
    receipt = await receipt_of(w3, tx)
    (log,) = receipt["logs"]

    found = await source.transfers(0, await source.head())

    assert found == [
        ObservedTransfer(
            blockchain=Blockchain.ETH,
            token=Coin.USDT,
            contract_address=token,
            tx_hash=tx,
            log_index=log["logIndex"],
            from_address=PAYER,
            to_address=WALLET,
            amount=12_345_678,
            block_number=receipt["blockNumber"],
            block_hash=receipt["blockHash"].to_0x_hex(),
            block_time=await block_time(w3, receipt["blockNumber"]),
        )
    ]
    transfer = found[0]
    assert isinstance(transfer.amount, int)
    assert transfer.block_time.tzinfo is UTC
    assert transfer.to_address == WALLET  # EIP-55, as the node's own checksum spelling
    assert await source.block_hash(receipt["blockNumber"]) == transfer.block_hash


async def test_transfers_elsewhere_and_outside_the_range_are_not_returned(
    w3: AsyncWeb3[Any], token: str, make_source: SourceFactory
) -> None:
    source = make_source()
    first = await transfer_tokens(w3, token, WALLET, 1_000_000, sender=PAYER)
    await transfer_tokens(w3, token, STRANGER, 2_000_000, sender=PAYER)
    await transfer_tokens(w3, token, PAYER, 300_000, sender=WALLET)  # outgoing from our wallet
    last = await transfer_tokens(w3, token, OTHER_WALLET, 4_000_000, sender=PAYER)
    head = await source.head()

    found = await source.transfers(0, head)
    assert [(t.to_address, t.amount) for t in found] == [
        (WALLET, 1_000_000),
        (OTHER_WALLET, 4_000_000),
    ]
    first_block = (await receipt_of(w3, first))["blockNumber"]
    last_block = (await receipt_of(w3, last))["blockNumber"]
    assert [t.tx_hash for t in await source.transfers(first_block, first_block)] == [first]
    assert [t.tx_hash for t in await source.transfers(first_block + 1, last_block)] == [last]
    assert await source.transfers(last_block + 1, last_block) == []


async def test_fake_token_with_the_same_amount_is_not_returned(
    w3: AsyncWeb3[Any], token: str, make_source: SourceFactory
) -> None:
    fake = await deploy_token(w3, mint={PAYER: 10**12})  # same code, same name and symbol
    assert fake != token
    source = make_source()
    await transfer_tokens(w3, fake, WALLET, 5_000_000, sender=PAYER)
    real = await transfer_tokens(w3, token, WALLET, 5_000_000, sender=PAYER)
    assert await token_balance(w3, fake, WALLET) == 5_000_000

    found = await source.transfers(0, await source.head())
    assert [(t.tx_hash, t.contract_address) for t in found] == [(real, token)]


async def test_two_transfers_in_one_transaction_are_two_records(
    w3: AsyncWeb3[Any], token: str, make_source: SourceFactory
) -> None:
    source = make_source()
    tx = await batch_transfer_tokens(
        w3,
        token,
        [(WALLET, 7_000_000), (STRANGER, 1), (WALLET, 7_000_000), (OTHER_WALLET, 9)],
        sender=PAYER,
    )
    receipt = await receipt_of(w3, tx)
    assert len(receipt["logs"]) == 4

    found = await source.transfers(0, await source.head())
    assert [t.tx_hash for t in found] == [tx, tx, tx]
    assert [t.log_index for t in found] == [receipt["logs"][i]["logIndex"] for i in (0, 2, 3)]
    assert len({t.key for t in found}) == 3  # same amount, same wallet, still two transfers
    assert [(t.to_address, t.amount) for t in found] == [
        (WALLET, 7_000_000),
        (WALLET, 7_000_000),
        (OTHER_WALLET, 9),
    ]


async def test_mints_and_zero_amounts_are_returned_too(
    w3: AsyncWeb3[Any], token: str, make_source: SourceFactory
) -> None:
    """Nothing the chain says is dropped: deciding what pays an order is the matcher's job."""
    source = make_source()
    await mint_tokens(w3, token, WALLET, 10**24)  # 18-decimal-sized amounts stay exact ints
    await transfer_tokens(w3, token, WALLET, 0, sender=STRANGER)
    found = await source.transfers(0, await source.head())
    assert [(t.from_address, t.amount) for t in found] == [
        ("0x0000000000000000000000000000000000000000", 10**24),
        (STRANGER, 0),
    ]


async def test_block_hash_is_none_above_head_and_follows_a_reorg(
    w3: AsyncWeb3[Any], token: str, make_source: SourceFactory
) -> None:
    source = make_source()
    head = await source.head()
    assert await source.block_hash(head + 1) is None
    assert await source.block_hash(head + 1000) is None
    assert await source.block_hash(head) == (await w3.eth.get_block(head))["hash"].to_0x_hex()

    mark = await snapshot(w3)
    tx = await transfer_tokens(w3, token, WALLET, 42, sender=PAYER)
    (seen,) = await source.transfers(head + 1, await source.head())
    assert seen.tx_hash == tx
    assert await revert(w3, mark)
    await mine(w3, 2)  # a different chain of blocks at the same heights

    assert await source.block_hash(seen.block_number) != seen.block_hash
    assert await source.transfers(head + 1, await source.head()) == []


# ---------------------------------------------------------------------------------------------
# Adaptive eth_getLogs ranges (through a real proxy that refuses large queries)


async def _spread_transfers(w3: AsyncWeb3[Any], token: str, count: int) -> list[int]:
    amounts = []
    for i in range(count):
        amount = 1_000_000 + i
        await transfer_tokens(w3, token, WALLET if i % 2 else OTHER_WALLET, amount, sender=PAYER)
        await mine(w3, 3)
        amounts.append(amount)
    return amounts


async def test_range_shrinks_on_limit_errors_and_grows_back(
    w3: AsyncWeb3[Any], token: str, make_source: SourceFactory, rpc_proxy: ProxyFactory
) -> None:
    amounts = await _spread_transfers(w3, token, 12)
    await mine(w3, 40)
    proxy = await rpc_proxy(max_span=8, strip_block_timestamp=True)
    source = make_source([proxy.url], max_block_range=64, grow_after=2)
    head = await source.head()
    assert head > 64

    found = await source.transfers(0, head)

    assert [t.amount for t in found] == amounts  # every transfer, once, in chain order
    ok = [c.span for c in proxy.get_logs if not c.refused]
    refused = [c.span for c in proxy.get_logs if c.refused]
    assert refused[:3] == [64, 32, 16]  # halved until the node accepted
    assert max(ok) <= 8
    # after two successes at 8 blocks it tried 16 again (grow back), was refused, shrank again
    calls = [(c.span, c.refused) for c in proxy.get_logs]
    assert any(a == (8, False) and b == (16, True) for a, b in itertools.pairwise(calls))
    # timestamps came from eth_getBlockByHash (the proxy hid blockTimestamp), once per block
    assert "eth_getBlockByHash" in proxy.methods
    assert proxy.methods.count("eth_getBlockByHash") == len({t.block_hash for t in found})
    for transfer in found:
        assert transfer.block_time == await block_time(w3, transfer.block_number)


async def test_range_follows_the_nodes_suggestion(
    w3: AsyncWeb3[Any], token: str, make_source: SourceFactory, rpc_proxy: ProxyFactory
) -> None:
    amounts = await _spread_transfers(w3, token, 4)

    def alchemy_style(low: int, high: int) -> dict[str, Any]:
        return {
            "code": -32602,
            "message": "Log response size exceeded. You can make eth_getLogs requests with up "
            "to a 2K block range. Based on your parameters, this block range should work: "
            f"[{hex(low)}, {hex(low + 4)}]",
        }

    proxy = await rpc_proxy(max_span=5, refusal=alchemy_style)
    source = make_source([proxy.url], max_block_range=1000, grow_after=1000)
    found = await source.transfers(0, await source.head())
    assert [t.amount for t in found] == amounts
    head = await source.head()
    calls = [(c.span, c.refused) for c in proxy.get_logs]
    assert calls[:2] == [(head + 1, True), (5, False)]  # straight to the suggested size
    assert sum(refused for _, refused in calls) == 1
    assert source.block_range == 5


async def test_a_node_that_refuses_even_one_block_is_an_outage(
    token: str, make_source: SourceFactory, rpc_proxy: ProxyFactory
) -> None:
    proxy = await rpc_proxy(max_span=0)
    source = make_source([proxy.url], max_block_range=4)
    with pytest.raises(SourceUnavailable, match="even for 1 block"):
        await source.transfers(0, await source.head())


# ---------------------------------------------------------------------------------------------
# Failover and outages


async def test_failover_from_a_dead_url_to_a_working_one(
    w3: AsyncWeb3[Any], anvil: AnvilProcess, token: str, make_source: SourceFactory
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    source = make_source([dead, anvil.http_url])
    tx = await transfer_tokens(w3, token, WALLET, 77, sender=PAYER)

    assert await source.head() == await w3.eth.block_number
    assert source.active_url == anvil.http_url
    assert [t.tx_hash for t in await source.transfers(0, await source.head())] == [tx]


async def test_failover_from_a_hanging_node_after_the_timeout(
    w3: AsyncWeb3[Any], anvil: AnvilProcess, make_source: SourceFactory, rpc_proxy: ProxyFactory
) -> None:
    hanging = await rpc_proxy(hang=True)
    source = make_source([hanging.url, anvil.http_url], request_timeout=0.5)
    started = time.monotonic()
    assert await source.head() == await w3.eth.block_number
    assert time.monotonic() - started < 2.0
    assert source.active_url == anvil.http_url
    started = time.monotonic()
    await source.head()  # the working URL is remembered: no second timeout
    assert time.monotonic() - started < 0.4


async def test_a_log_query_that_times_out_everywhere_is_an_outage_and_asks_less_next_time(
    make_source: SourceFactory, rpc_proxy: ProxyFactory
) -> None:
    hanging = await rpc_proxy(hang=True)
    source = make_source([hanging.url], request_timeout=0.3, max_block_range=64)
    with pytest.raises(SourceUnavailable, match="no answer within"):
        await source.transfers(0, 1000)
    assert source.block_range == 32


async def test_every_url_down_raises_and_recovers_when_the_node_returns(
    anvil: AnvilProcess, make_source: SourceFactory
) -> None:
    source = make_source([anvil.http_url, f"http://127.0.0.1:{free_port()}"])
    before = await source.head()
    await anvil.stop()
    with pytest.raises(SourceUnavailable, match="every RPC URL"):
        await source.head()
    await anvil.start()  # same port; without state_path a brand-new chain
    assert await source.head() <= before


async def test_a_quick_node_restart_costs_no_failed_call(
    anvil: AnvilProcess, make_source: SourceFactory
) -> None:
    """Open connections (WebSocket, pooled HTTP) die with the node; the next call reconnects."""
    over_http = make_source([anvil.http_url])
    over_ws = make_source([anvil.ws_url])
    assert await over_http.head() == await over_ws.head()
    await anvil.restart()
    assert await over_http.head() >= 0
    assert await over_ws.head() >= 0


async def test_restart_with_state_keeps_the_chain(anvil_binary: Path, tmp_path: Path) -> None:
    async with AnvilProcess(binary=anvil_binary, state_path=tmp_path / "state.json") as node:
        client: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(node.http_url))
        token = await deploy_token(client, mint={PAYER: 10**9})
        await transfer_tokens(client, token, WALLET, 5, sender=PAYER)
        async with EvmSource("eth", [node.http_url], {"USDT": (token, 6)}, [WALLET]) as source:
            before = await source.transfers(0, await source.head())
            assert len(before) == 1
            url = node.http_url
            await node.restart()  # SIGTERM: anvil dumps the chain, then loads it on start
            assert node.http_url == url
            assert await source.transfers(0, await source.head()) == before
        await client.provider.disconnect()


# ---------------------------------------------------------------------------------------------
# New heads: push over WebSocket, polling over HTTP


async def test_new_heads_over_websocket_arrive_within_a_second(
    w3: AsyncWeb3[Any], anvil: AnvilProcess, token: str, make_source: SourceFactory
) -> None:
    source = make_source([anvil.ws_url], poll_interval=30.0)
    assert await source.subscribe_heads(timeout=5.0)
    head = await source.head()  # requests go over the WebSocket too
    await source.wait_for_new_head(0)  # consume anything announced so far

    waiter = asyncio.create_task(source.wait_for_new_head(timeout=10.0))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    await waiter
    assert time.monotonic() - started < 1.0
    assert source.pushed_head == head + 1
    assert await source.head() == head + 1

    tx = await transfer_tokens(w3, token, WALLET, 3, sender=PAYER)
    assert [t.tx_hash for t in await source.transfers(head + 1, await source.head())] == [tx]


async def test_new_heads_subscription_comes_back_after_a_node_restart(
    w3: AsyncWeb3[Any], anvil: AnvilProcess, make_source: SourceFactory
) -> None:
    source = make_source([anvil.ws_url], poll_interval=0.2)
    assert await source.subscribe_heads(timeout=5.0)
    await anvil.restart()
    deadline = time.monotonic() + 10
    while not source.subscribed or source.pushed_head is None:
        await source.wait_for_new_head(0.5)
        if source.subscribed:
            await mine(w3)
        assert time.monotonic() < deadline, "newHeads subscription did not come back"
    assert await source.head() >= 1


async def test_polling_source_waits_its_poll_interval(make_source: SourceFactory) -> None:
    source = make_source(poll_interval=0.3)
    assert not await source.subscribe_heads(timeout=0.1)
    started = time.monotonic()
    await source.wait_for_new_head(timeout=5.0)
    assert 0.25 <= time.monotonic() - started < 1.0
    started = time.monotonic()
    await source.wait_for_new_head(timeout=0.05)  # the caller's timeout caps the wait
    assert time.monotonic() - started < 0.2


# ---------------------------------------------------------------------------------------------
# Construction and parsing (no node needed)


def test_from_settings_merges_token_overrides_and_picks_this_chains_wallets() -> None:
    from app.config import ChainSettings, TokenSettings, WalletSettings

    anvil_token = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    chain = ChainSettings(
        rpc_urls=["ws://127.0.0.1:8545"],
        poll_interval_seconds=0.5,
        tokens={Coin.USDT: TokenSettings(contract=anvil_token, decimals=6)},
    )
    wallets = [
        WalletSettings(blockchain=Blockchain.ETH, address=WALLET, enabled_coins=[Coin.USDT]),
        WalletSettings(blockchain=Blockchain.POLYGON, address=STRANGER, enabled_coins=[Coin.USDC]),
    ]
    source = EvmSource.from_settings("eth", chain, wallets)
    assert source.wallets == {WALLET.lower()}
    assert source.tokens[Coin.USDT] == EvmToken(Coin.USDT, anvil_token.lower(), 6)
    assert source.tokens[Coin.DAI].decimals == 18  # built-in mainnet entry kept
    assert source.poll_interval == 0.5
    with pytest.raises(ValueError, match="not an EVM chain"):
        EvmSource.from_settings("tron", chain, wallets)


def test_addresses_are_validated() -> None:
    assert normalize_address(WALLET) == WALLET.lower()
    assert normalize_address(WALLET.lower()) == WALLET.lower()
    assert normalize_address("0x" + WALLET[2:].upper()) == WALLET.lower()
    typo = WALLET[:-1] + ("C" if WALLET[-1] != "C" else "D")
    with pytest.raises(ValueError):
        normalize_address(typo.replace("dc", "dC"))
    with pytest.raises(ValueError, match="not an EVM address"):
        normalize_address("TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7")
    with pytest.raises(ValueError, match="at least one RPC URL"):
        EvmSource("eth", [], {}, [])


def _raw_log(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "address": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
        "topics": [TRANSFER_TOPIC, address_topic(PAYER.lower()), address_topic(WALLET.lower())],
        "data": "0x" + f"{5_000_000:064x}",
        "blockHash": "0x" + "ab" * 32,
        "blockNumber": "0x10",
        "transactionHash": "0x" + "cd" * 32,
        "logIndex": "0x3",
        "removed": False,
    }
    entry.update(overrides)
    return entry


def test_parse_transfer_log_rechecks_what_the_node_filtered() -> None:
    tokens = {
        "0x5fbdb2315678afecb367f032d93f642f64180aa3": EvmToken(
            Coin.USDT, "0x5fbdb2315678afecb367f032d93f642f64180aa3", 6
        )
    }
    wallets = frozenset({WALLET.lower()})
    when = datetime(2026, 1, 1, tzinfo=UTC)

    def parse(**overrides: Any) -> ObservedTransfer | None:
        return parse_transfer_log(
            _raw_log(**overrides),
            blockchain=Blockchain.ETH,
            tokens=tokens,
            wallets=wallets,
            block_time=when,
        )

    ok = parse()
    assert ok is not None
    assert (ok.amount, ok.log_index, ok.block_number, ok.removed) == (5_000_000, 3, 16, False)
    assert ok.from_address == PAYER and ok.to_address == WALLET
    removed = parse(removed=True)
    assert removed is not None and removed.removed
    assert parse(address=ANVIL_ACCOUNTS[0]) is None  # another contract
    assert (
        parse(
            topics=[TRANSFER_TOPIC, address_topic(PAYER.lower()), address_topic(STRANGER.lower())]
        )
        is None
    )  # not our wallet
    nft = _raw_log()["topics"] + ["0x" + "00" * 31 + "01"]
    assert parse(topics=nft) is None  # ERC-721 Transfer: 4 topics
    assert parse(data="0x") is None
    assert parse(blockHash=None) is None  # pending


def test_range_error_recognition() -> None:
    for message in (
        "query returned more than 10000 results",
        "Query returned more than 10000 results. Try with this block range [0x1, 0x2].",
        "block range too large",
        "eth_getLogs is limited to a 10,000 range",
        "Log response size exceeded.",
        "exceed maximum block range: 5000",
    ):
        assert is_range_error(message), message
    assert is_range_error("whatever", code=-32005)
    assert not is_range_error("header not found")
    assert not is_range_error("execution reverted")
    assert suggested_span("try with this block range [0x10, 0x1f]") == 16
    assert suggested_span("this block range should work: [100, 199]") == 100
    assert suggested_span("query returned more than 10000 results") is None


# ---------------------------------------------------------------------------------------------
# The committed contract artifacts are what the committed source compiles to


def test_committed_token_artifacts_match_a_fresh_solc_compile() -> None:
    from devkit.chain.compile import CompilerNotFoundError, committed_token, compile_token

    try:
        fresh = compile_token()
    except CompilerNotFoundError as exc:
        unavailable(f"cannot recompile TestUSDT.sol: {exc}")
        return
    committed = committed_token()
    assert fresh.abi == committed.abi
    assert fresh.bytecode == committed.bytecode, (
        "TestUSDT.bin is stale: run `uv run python -m devkit.chain.compile --write`"
    )
