"""TRC-20 payments end to end through the java-tron simulator: TronSource + ChainRunner + matcher
over both databases, stepped by the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from devkit.chain.tron_simulator import TronSimulator
from tests.watchers.tronflow import (
    OTHER_WALLET,
    PAYER,
    STRANGER,
    WALLET,
    TronHarness,
    tron_harness,
)
from watchers.base import SourceError


@pytest.fixture
async def sim() -> AsyncIterator[TronSimulator]:
    async with TronSimulator() as simulator:
        simulator.produce(5)
        simulator.solidify()
        yield simulator


@pytest.fixture
def token(sim: TronSimulator) -> str:
    return sim.deploy_token("TestUSDT")


@pytest.fixture
async def solid(database_url: str, sim: TronSimulator, token: str) -> AsyncIterator[TronHarness]:
    """confirmations = 0: paid once the block is solidified."""
    async with tron_harness(database_url, sim, token, confirmations=0) as harness:
        await harness.drain()  # seeds the cursor
        yield harness


@pytest.fixture
async def deep(database_url: str, sim: TronSimulator, token: str) -> AsyncIterator[TronHarness]:
    """confirmations = 3 counted from the latest block."""
    async with tron_harness(database_url, sim, token, confirmations=3) as harness:
        await harness.drain()
        yield harness


async def test_paid_after_solidification(
    solid: TronHarness, sim: TronSimulator, token: str
) -> None:
    order_id, detail = await solid.open_order("12.5")
    assert detail.amount_base_units == "12500000"
    assert detail.wallet_address == WALLET
    link, amount = detail.payment_uri.split("&amount=")
    assert link == f"tron:{WALLET}?token={token}" and Decimal(amount) == Decimal("12.5")
    txid = sim.transfer(token, PAYER, WALLET, 12_500_000)
    block = sim.produce()[0]
    sim.produce(3)
    await solid.drain()
    assert await solid.status(order_id) == "pending"
    assert await solid.transfers() == [], "nothing is seen before its block is solid"
    sim.solidify(block.number - 1)
    await solid.drain()
    assert await solid.transfers() == []
    sim.solidify(block.number)
    await solid.drain()
    assert await solid.status(order_id) == "paid"
    [row] = await solid.transfers()
    assert (row.tx_hash, row.log_index, row.block_number, row.block_hash) == (
        txid,
        0,
        block.number,
        block.block_id,
    )
    assert (row.to_address, row.from_address, row.contract_address) == (WALLET, PAYER, token)
    assert row.status == "matched" and row.confirmed
    pushed = solid.recorder.for_order(order_id)
    assert pushed[-1]["order"]["status"] == "paid"
    await solid.drain()  # a second pass changes nothing
    sim.produce(2)
    sim.solidify()
    await solid.drain()
    assert [e.payload["order_id"] for e in await solid.paid_events()] == [str(order_id)]
    assert len(await solid.transfers()) == 1


async def test_head_mode_detects_then_pays_at_depth(
    deep: TronHarness, sim: TronSimulator, token: str
) -> None:
    order_id, detail = await deep.open_order("3")
    sim.transfer(token, PAYER, WALLET, int(detail.amount_base_units))
    sim.produce()
    await deep.drain()
    detected = deep.recorder.for_order(order_id)[-1]["order"]
    assert (detected["status"], detected["confirmations"], detected["required_confirmations"]) == (
        "pending",
        1,
        3,
    )
    sim.produce()
    await deep.drain()
    assert await deep.status(order_id) == "pending"
    sim.produce()
    await deep.drain()
    assert await deep.status(order_id) == "paid"


@pytest.mark.parametrize("failure", ["REVERT", "OUT_OF_ENERGY"])
async def test_a_failed_transaction_pays_nothing(
    solid: TronHarness, sim: TronSimulator, token: str, failure: str
) -> None:
    order_id, detail = await solid.open_order("7")
    units = int(detail.amount_base_units)
    sim.transfer(token, PAYER, WALLET, units, result=failure)
    sim.produce()
    sim.solidify()
    await solid.drain()
    assert await solid.status(order_id) == "pending"
    assert await solid.transfers() == []
    sim.transfer(token, PAYER, WALLET, units)  # the shopper tries again, successfully
    sim.produce()
    sim.solidify()
    await solid.drain()
    assert await solid.status(order_id) == "paid"


async def test_a_fake_token_pays_nothing(solid: TronHarness, sim: TronSimulator) -> None:
    order_id, detail = await solid.open_order("5")
    fake = sim.deploy_token("FakeUSDT")  # same symbol, same decimals, another contract
    sim.transfer(fake, PAYER, WALLET, int(detail.amount_base_units))
    sim.produce()
    sim.solidify()
    await solid.drain()
    assert await solid.status(order_id) == "pending"
    assert await solid.transfers() == []


async def test_two_transfers_in_one_transaction(
    database_url: str, sim: TronSimulator, token: str
) -> None:
    async with tron_harness(database_url, sim, token, wallets=(WALLET, OTHER_WALLET)) as harness:
        await harness.drain()
        first, a = await harness.open_order("10")
        second, b = await harness.open_order("10")
        assert {a.wallet_address, b.wallet_address} == {WALLET, OTHER_WALLET}
        txid = sim.batch_transfer(
            token,
            PAYER,
            [
                (a.wallet_address, int(a.amount_base_units)),
                (STRANGER, 99),
                (b.wallet_address, int(b.amount_base_units)),
            ],
        )
        sim.produce()
        sim.solidify()
        await harness.drain()
        assert [await harness.status(o) for o in (first, second)] == ["paid", "paid"]
        rows = await harness.transfers()
        assert [(r.tx_hash, r.log_index, r.status) for r in rows] == [
            (txid, 0, "matched"),
            (txid, 2, "matched"),
        ], "the stranger's log 1 is not ours; ours keep their own indexes"


async def test_node_restart(database_url: str, sim: TronSimulator, token: str) -> None:
    async with tron_harness(database_url, sim, token, api_key="k-123") as harness:
        await harness.drain()
        order_id, detail = await harness.open_order("4.2")
        await sim.stop()
        with pytest.raises(SourceError):
            await harness.runner.step()
        # The chain goes on while our node is down.
        sim.transfer(token, PAYER, WALLET, int(detail.amount_base_units))
        sim.produce(3)
        sim.solidify()
        with pytest.raises(SourceError):
            await harness.runner.step()
        assert await harness.status(order_id) == "pending"
        await sim.start()
        await harness.drain()
        assert await harness.status(order_id) == "paid"
        assert {key for _, key in sim.requests} == {"k-123"}, "the API key goes with every call"


async def test_watcher_crash_and_restart_loses_and_doubles_nothing(
    deep: TronHarness, sim: TronSimulator, token: str
) -> None:
    first, a = await deep.open_order("1.5")
    sim.transfer(token, PAYER, WALLET, int(a.amount_base_units))
    sim.produce()
    await deep.drain()  # detected, 1 of 3
    # The watcher dies here (no clean shutdown); while none runs, more happens on chain.
    second, b = await deep.open_order("2.5")
    sim.transfer(token, PAYER, WALLET, int(b.amount_base_units))
    sim.produce(3)
    restarted = deep.new_runner("after-crash")
    await deep.drain(restarted)
    assert [await deep.status(o) for o in (first, second)] == ["paid", "paid"]
    # Both runners over the same blocks again (a stale process waking up): still once each.
    sim.produce(2)
    await deep.runner.step()
    await deep.drain(restarted)
    await deep.drain(deep.runner)
    rows = await deep.transfers()
    assert len(rows) == 2 and {r.status for r in rows} == {"matched"}
    assert sorted(e.payload["order_id"] for e in await deep.paid_events()) == sorted(
        [str(first), str(second)]
    )


async def test_fork_of_unsolidified_blocks_pays_nothing(
    deep: TronHarness, sim: TronSimulator, token: str
) -> None:
    order_id, detail = await deep.open_order("6")
    sim.transfer(token, PAYER, WALLET, int(detail.amount_base_units))
    block = sim.produce()[0]
    sim.produce()
    await deep.drain()
    [seen] = await deep.transfers()
    assert seen.status == "waiting_for_confirmation" and seen.deposit_id is not None
    sim.fork(block.number, length=3)  # the branch without the payment wins
    await deep.drain()
    sim.produce(5)
    sim.solidify()
    await deep.drain()
    assert await deep.status(order_id) == "pending"
    [orphan] = await deep.transfers()
    assert orphan.status == "orphaned" and orphan.deposit_id is None
    assert await deep.paid_events() == []


async def test_fork_that_re_mines_the_payment_pays_once(
    deep: TronHarness, sim: TronSimulator, token: str
) -> None:
    order_id, detail = await deep.open_order("8")
    txid = sim.transfer(token, PAYER, WALLET, int(detail.amount_base_units))
    block = sim.produce()[0]
    await deep.drain()
    sim.fork(block.number, length=2, keep=True)  # the other branch has the payment too
    moved = sim.find_transaction(txid)
    assert moved is not None and moved[0].block_id != block.block_id
    sim.produce(3)
    await deep.drain()
    assert await deep.status(order_id) == "paid"
    [row] = await deep.transfers()
    assert (row.block_hash, row.status) == (moved[0].block_id, "matched")
    assert len(await deep.paid_events()) == 1


async def test_fork_before_solidification_is_never_seen_in_solid_mode(
    solid: TronHarness, sim: TronSimulator, token: str
) -> None:
    order_id, detail = await solid.open_order("9")
    sim.transfer(token, PAYER, WALLET, int(detail.amount_base_units))
    block = sim.produce()[0]
    sim.produce(2)
    await solid.drain()
    sim.fork(block.number)
    sim.produce(2)
    sim.solidify()
    await solid.drain()
    assert await solid.status(order_id) == "pending"
    assert await solid.transfers() == [], "an orphaned block was never read"
