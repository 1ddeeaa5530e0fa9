"""The TRON parser on recorded java-tron responses, and the simulator's shapes against them.

Fixtures: tests/watchers/fixtures/tron/ (README.md there says where each one comes from).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.chains import Blockchain, Coin
from devkit.chain.tron_simulator import TronSimulator, hex20, sim_address
from watchers.tron import (
    TronBlock,
    TronToken,
    base58_of,
    candidate_transfers,
    hex20_of,
    info_succeeded,
    parse_block,
    solidified_number,
    transfers_from_infos,
)

FIXTURES = Path(__file__).parent / "fixtures" / "tron"
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "a614f803b6fd780986a42c78ec9c7f77e6ded13c"
PAYEE_1 = "76b5c8429b78a38643e5ff9a94b4ca10c1efd867"
PAYEE_2 = "2cab3ac79193296de9c5e3f1e3aaa35f589505cb"
PAYER = "1cd1e40c5d77ad152837a782777045a97e0d7b2e"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def usdt_tokens(contract_hex: str = USDT_HEX) -> dict[str, TronToken]:
    return {contract_hex: TronToken(Coin.USDT, base58_of(contract_hex), contract_hex, 6)}


BLOCK = TronBlock(86646265, "0000000005ca1ff9" + "ab" * 24, 1790611248000, "00" * 32, ())


def test_addresses_round_trip() -> None:
    assert hex20_of(USDT) == USDT_HEX
    assert base58_of(USDT_HEX) == USDT
    for bad in ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u", "41" + USDT_HEX, "0x" + USDT_HEX, ""):
        with pytest.raises(ValueError):
            hex20_of(bad)


def test_recorded_blocks_parse() -> None:
    now = parse_block(load("getnowblock_nile_66987627.json"))
    assert now is not None
    assert now.number == 66987627
    assert now.block_id == "0000000003fe266bf6b6d392f654dc2e5011601546ed04623d9fcc4e9d439a25"
    assert int(now.block_id[:16], 16) == now.number, "a blockID begins with its number"
    assert now.time == datetime(2026, 4, 29, 6, 48, 27, tzinfo=UTC)
    assert now.tx_ids == ()
    by_num = parse_block(load("getblockbynum_nile_66987565.json"))
    assert by_num is not None and by_num.number == 66987565
    assert by_num.parent_hash.startswith(f"{66987564:016x}")
    assert parse_block({}) is None, "java-tron answers {} for a block it does not have"


def test_genesis_block_without_default_fields() -> None:
    block = parse_block(
        {"blockID": "00" * 8 + "11" * 24, "block_header": {"raw_data": {"parentHash": "22" * 32}}}
    )
    assert block is not None and (block.number, block.timestamp_ms) == (0, 0)


def test_node_error_and_garbage_are_errors_not_empty_blocks() -> None:
    with pytest.raises(Exception, match="node error"):
        parse_block({"Error": "class java.lang.NullPointerException : null"})
    with pytest.raises(Exception, match="malformed"):
        parse_block({"blockID": "xyz"})


def test_trx_transfer_infos_have_no_logs_and_no_result() -> None:
    infos = load("gettransactioninfobyblocknum_nile_66987565.json")
    assert [info_succeeded(i) for i in infos] == [False, False]
    assert [candidate_transfers(i, usdt_tokens(), frozenset({PAYEE_1})) for i in infos] == [[], []]


def test_successful_contract_call_without_transfer_log() -> None:
    info = load("gettransactioninfobyid_nile_contract_call.json")
    assert info_succeeded(info)
    emitter = "9ff8fc48fb114ccd5bbdc24a86f0c73082f08825"
    # Even with its contract configured as a token and the topic-2 value as a wallet, a log that
    # is not a Transfer is no transfer.
    wallets = frozenset({"0" * 39 + "7"})
    assert candidate_transfers(info, usdt_tokens(emitter), wallets) == []


def test_two_usdt_transfers_in_one_mainnet_transaction() -> None:
    info = load("transactioninfo_mainnet_usdt_two_transfers.json")
    found = transfers_from_infos(
        [info],
        BLOCK,
        blockchain=Blockchain.TRON,
        tokens=usdt_tokens(),
        wallets=frozenset({PAYEE_1, PAYEE_2}),
    )
    assert [(t.log_index, t.amount, t.to_address) for t in found] == [
        (0, 1_500_000, base58_of(PAYEE_1)),
        (1, 938_500_000, base58_of(PAYEE_2)),
    ]
    first = found[0]
    assert first.tx_hash == "6e5ffb1e12db87e3420eca751d837305db57dd5d22b5eda4dc1cffeeb2492d63"
    assert first.contract_address == USDT
    assert first.from_address == base58_of(PAYER)
    assert first.from_address.startswith("T") and first.to_address.startswith("T")
    assert (first.block_number, first.block_hash, first.block_time) == (
        BLOCK.number,
        BLOCK.block_id,
        datetime.fromtimestamp(1790611248, tz=UTC),
    )
    assert len({t.key for t in found}) == 2, "distinct identities in one transaction"
    only_second = transfers_from_infos(
        [info],
        BLOCK,
        blockchain=Blockchain.TRON,
        tokens=usdt_tokens(),
        wallets=frozenset({PAYEE_2}),
    )
    assert [t.log_index for t in only_second] == [1], "the log's own index, not a renumbering"


@pytest.mark.parametrize(
    "change",
    [
        lambda i: i["receipt"].update(result="REVERT"),
        lambda i: i["receipt"].update(result="OUT_OF_ENERGY"),
        lambda i: i.update(result="FAILED"),
        lambda i: i["receipt"].pop("result"),
        lambda i: i.pop("receipt"),
    ],
    ids=["revert", "out-of-energy", "failed", "no-receipt-result", "no-receipt"],
)
def test_a_failed_transaction_pays_nothing(change: Any) -> None:
    info = copy.deepcopy(load("transactioninfo_mainnet_usdt_two_transfers.json"))
    change(info)
    assert not info_succeeded(info)
    assert candidate_transfers(info, usdt_tokens(), frozenset({PAYEE_1, PAYEE_2})) == []


def test_only_the_configured_contract_counts() -> None:
    info = load("transactioninfo_mainnet_usdt_two_transfers.json")
    lookalike = "b" * 40
    assert candidate_transfers(info, usdt_tokens(lookalike), frozenset({PAYEE_1})) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda log: log["topics"].append("00" * 32),  # ERC-721-like: token id indexed
        lambda log: log.update(data=log["data"] + "00" * 32),
        lambda log: log["topics"].__setitem__(0, "8c5be1e5" + "00" * 28),  # Approval
    ],
    ids=["four-topics", "two-word-data", "other-event"],
)
def test_malformed_transfer_logs_are_ignored(change: Any) -> None:
    info = copy.deepcopy(load("transactioninfo_mainnet_usdt_two_transfers.json"))
    for entry in info["log"][:2]:
        change(entry)
    assert candidate_transfers(info, usdt_tokens(), frozenset({PAYEE_1, PAYEE_2})) == []


def test_tolerates_prefixed_spellings() -> None:
    info = copy.deepcopy(load("transactioninfo_mainnet_usdt_two_transfers.json"))
    info["log"][0]["address"] = "41" + USDT_HEX
    info["log"][0]["topics"] = ["0x" + t for t in info["log"][0]["topics"]]
    found = candidate_transfers(info, usdt_tokens(), frozenset({PAYEE_1}))
    assert [(c.log_index, c.amount) for c in found] == [(0, 1_500_000)]


def test_nodeinfo_solidified_number() -> None:
    assert solidified_number(load("getnodeinfo_nile.json")) == 66987547
    assert solidified_number({"solidityBlock": ""}) is None
    assert solidified_number([]) is None


# -- the simulator prints what the node prints


def _shape(value: Any) -> Any:
    """Keys and value types, recursively (first element of lists)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


async def test_simulator_shapes_match_recorded_responses() -> None:
    sim = TronSimulator()
    token = sim.deploy_token()
    payer, payee = sim_address("payer"), sim_address("payee")
    sim.transfer(token, payer, payee, 1_500_000)
    sim.trx_transfer(payer, payee, 10)
    block = sim.produce()[0]
    empty = sim.produce()[0]
    recorded_block = load("getnowblock_nile_66987627.json")
    simulated = block.block_json()
    assert _shape(empty.block_json()) == _shape(recorded_block), "no transactions key when empty"
    assert _shape(simulated["block_header"]) == _shape(recorded_block["block_header"])
    recorded_tx = load("gettransactionbyid_nile_trigger.json")
    assert _shape(simulated["transactions"][0]) == _shape(recorded_tx)
    trigger_info, trx_info = json.loads(block.infos_bytes(logs_on_failure=True))
    recorded_info = load("gettransactioninfobyid_nile_contract_call.json")
    for key in ("id", "fee", "blockNumber", "blockTimeStamp", "contractResult", "contract_address"):
        assert type(trigger_info[key]) is type(recorded_info[key]), key
    assert (
        trigger_info["contract_address"].startswith("41")
        and len(trigger_info["log"][0]["address"]) == 40
    )
    assert trigger_info["log"][0]["address"] == hex20(token)
    assert set(trigger_info["receipt"]) <= set(recorded_info["receipt"]) | {"net_usage"}
    assert set(trx_info) == set(load("gettransactioninfobyblocknum_nile_66987565.json")[0]) - {
        "fee"
    }
    assert block.timestamp % 3000 == 0
    parsed = parse_block(simulated)
    assert parsed is not None and parsed.number == block.number == int(block.block_id[:16], 16)
    assert parsed.tx_ids == tuple(t.txid for t in block.transactions)
