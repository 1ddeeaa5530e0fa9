"""The Solana simulator answers like a Solana node: the documented shapes (fixtures), the
documented errors, paging semantics and PubSub notifications; and the parser reads the recorded
transaction of the docs' shape.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair
from websockets.asyncio.client import connect

from devkit.chain.solana_simulator import SolanaSimulator
from watchers.solana import associated_token_account
from watchers.solana_parse import WatchedAccount, parse_transaction

FIXTURES = Path(__file__).parent / "fixtures" / "solana"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def same_shape(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Differences in keys and value types (null matches anything: the docs show both)."""
    if expected is None or actual is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        problems = (
            [f"{path}: keys {sorted(set(expected) ^ set(actual))}"]
            if set(expected) != set(actual)
            else []
        )
        for key in set(expected) & set(actual):
            problems += same_shape(expected[key], actual[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list"]
        if expected and actual:
            return same_shape(expected[0], actual[0], f"{path}[0]")
        return []
    if type(expected) is not type(actual) and not (
        isinstance(expected, int | float) and isinstance(actual, int | float)
    ):
        return [f"{path}: {type(expected).__name__} != {type(actual).__name__}"]
    return []


@pytest.fixture
async def sim() -> AsyncIterator[SolanaSimulator]:
    async with SolanaSimulator(finality_lag=1) as node:
        yield node


async def rpc(sim: SolanaSimulator, method: str, *params: Any) -> Any:
    async with httpx.AsyncClient() as client:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer: Any = (await client.post(sim.url, json=body)).json()
        return answer


async def test_answers_have_the_documented_shapes(sim: SolanaSimulator) -> None:
    mint = sim.create_mint(6, USDC)
    payer = sim.keypair(mint, 100_000_000)
    shop = str(Keypair().pubkey())
    reference = str(Keypair().pubkey())
    sim.ledger.fund(shop, mint, 0)  # the shop's account exists, as in the recorded answer
    signature = sim.transfer(payer, shop, mint, 12_500_000, references=(reference,))
    failed = sim.transfer(payer, shop, mint, 10**12)
    block = sim.produce(3)[0]
    ata = associated_token_account(shop, mint)
    confirmed = {"commitment": "confirmed"}

    sigs = await rpc(sim, "getSignaturesForAddress", ata, confirmed)
    assert same_shape(fixture("getSignaturesForAddress"), sigs) == []
    assert [s["signature"] for s in sigs["result"]] == [failed, signature]
    assert sigs["result"][0]["err"] == {"InstructionError": [0, {"Custom": 1}]}

    tx = await rpc(
        sim,
        "getTransaction",
        signature,
        {**confirmed, "encoding": "jsonParsed", "maxSupportedTransactionVersion": 0},
    )
    expected = fixture("getTransaction_jsonParsed")
    problems = same_shape(expected, tx)
    assert problems == [], problems
    [transfer] = [
        i for i in tx["result"]["transaction"]["message"]["instructions"] if "parsed" in i
    ][-1:]
    assert (
        same_shape(expected["result"]["transaction"]["message"]["instructions"][0], transfer) == []
    )
    assert transfer["parsed"]["info"]["signers"] == [reference]

    got = await rpc(
        sim, "getBlock", block.slot, {**confirmed, "transactionDetails": "none", "rewards": False}
    )
    assert same_shape(fixture("getBlock_none"), got) == []
    assert same_shape(fixture("getSlot"), await rpc(sim, "getSlot", confirmed)) == []
    accounts = await rpc(
        sim, "getTokenAccountsByOwner", shop, {"mint": mint}, {"encoding": "jsonParsed"}
    )
    assert same_shape(fixture("getTokenAccountsByOwner"), accounts) == []


async def test_documented_errors(sim: SolanaSimulator) -> None:
    sim.produce()
    sim.produce(skip=2)
    skipped = sim.ledger.slot - 1
    answer = await rpc(sim, "getBlock", skipped, {"commitment": "confirmed"})
    assert answer["error"]["code"] == fixture("getBlock_skipped")["error"]["code"] == -32007
    answer = await rpc(sim, "getBlock", sim.ledger.slot + 50, {"commitment": "confirmed"})
    assert answer["error"]["code"] == fixture("getBlock_not_available")["error"]["code"]
    mint = sim.create_mint(6)
    payer = sim.keypair(mint, 10)
    signature = sim.transfer(payer, str(Keypair().pubkey()), mint, 1)
    sim.produce()
    config = {"encoding": "jsonParsed", "commitment": "confirmed"}
    answer = await rpc(sim, "getTransaction", signature, config)
    assert answer["error"]["code"] == -32015  # v0 needs maxSupportedTransactionVersion
    assert (await rpc(sim, "noSuchMethod"))["error"]["code"] == -32601
    # Default commitment is finalized: the newest block is not there yet.
    assert (await rpc(sim, "getSlot"))["result"] < sim.ledger.confirmed


async def test_paging_with_before_and_until(sim: SolanaSimulator) -> None:
    mint = sim.create_mint(6)
    payer = sim.keypair(mint, 10**9)
    shop = str(Keypair().pubkey())
    sent = []
    for i in range(5):
        sent.append(sim.transfer(payer, shop, mint, i + 1))
        sim.produce()
    ata = associated_token_account(shop, mint)
    page = {"commitment": "confirmed", "limit": 2}
    first = (await rpc(sim, "getSignaturesForAddress", ata, page))["result"]
    second = (
        await rpc(sim, "getSignaturesForAddress", ata, {**page, "before": first[-1]["signature"]})
    )["result"]
    assert [s["signature"] for s in first + second] == sent[::-1][:4]
    until = (
        await rpc(
            sim, "getSignaturesForAddress", ata, {"commitment": "confirmed", "until": sent[1]}
        )
    )["result"]
    assert [s["signature"] for s in until] == sent[:1:-1]


async def test_pubsub_notifications(sim: SolanaSimulator) -> None:
    mint = sim.create_mint(6)
    payer = sim.keypair(mint, 10**9)
    shop = str(Keypair().pubkey())
    ata = associated_token_account(shop, mint)
    async with connect(sim.ws_url) as ws:
        await ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "logsSubscribe",
                    "params": [{"mentions": [ata]}, {"commitment": "confirmed"}],
                }
            )
        )
        assert isinstance(json.loads(await ws.recv())["result"], int)
        signature = sim.transfer(payer, shop, mint, 5)
        await ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "signatureSubscribe",
                    "params": [signature, {"commitment": "finalized"}],
                }
            )
        )
        await ws.recv()
        sim.produce()
        logs = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert same_shape(fixture("logsNotification"), logs) == []
        assert logs["params"]["result"]["value"]["signature"] == signature
        sim.produce()  # finality lag 1: the transfer's slot is now finalized
        final = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert same_shape(fixture("signatureNotification"), final) == []


def test_the_parser_reads_the_recorded_transaction() -> None:
    tx = fixture("getTransaction_jsonParsed")["result"]
    shop = "HvwC9QSAzvGXhhVrgPmauVwFWcYZhne3hVot9EbHuFTm"
    account = WatchedAccount("6ZRCB7AAqGre6c72PRz3MHLC73VMYvJ8bi9KHf1HFpNk", shop, USDC)
    parsed = parse_transaction(tx, tx["transaction"]["signatures"][0], {account.address: account})
    [transfer] = parsed.transfers
    assert (transfer.amount, transfer.mint, transfer.log_index) == (12_500_000, USDC, 0)
    assert transfer.sender == "7fUAJdStEuGbc3sM84cKRL6yYaaSstyLSU4ve5oovLS7"
    assert transfer.references == ("9qhFSGAzshRQk1pnvvH3tgnAL3zXuDoUbmsZuLCzpXoh",)
    # A node that printed a different balance change than the instructions is not believed.
    tx["meta"]["postTokenBalances"][1]["uiTokenAmount"]["amount"] = "12500001"
    doubtful = parse_transaction(tx, "x", {account.address: account})
    assert doubtful.transfers == [] and doubtful.inconsistent
    tx["meta"]["err"] = {"InstructionError": [0, {"Custom": 1}]}
    assert parse_transaction(tx, "x", {account.address: account}).transfers == []
