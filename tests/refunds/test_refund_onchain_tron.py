"""A claimed TRON refund recognised by the real TronSource and runner (the java-tron simulator):
the transfer from our wallet to the claimed address for the amount marks the item sent once its
block is solid; another amount or recipient pays nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.chains import Blockchain, Coin
from app.db import unit_of_work
from app.models import RefundItem
from app.refunds import service as refunds
from app.refunds.addresses import claim_address
from app.refunds.models import RefundKind
from devkit.chain.tron_simulator import TronSimulator, sim_address
from tests.refunds.conftest import seed_refund
from tests.watchers.tronflow import PAYER, STRANGER, WALLET, TronHarness, tron_harness

SHOPPER = sim_address("tests/refund-shopper")


@pytest.fixture
async def sim() -> AsyncIterator[TronSimulator]:
    async with TronSimulator() as simulator:
        yield simulator


async def status(h: TronHarness, item_id: int) -> tuple[str, str | None]:
    async with h.db() as session:
        item = await session.get(RefundItem, item_id)
        assert item is not None
        return item.status, item.refund_tx_hash


async def test_claimed_tron_refund_is_sent_by_the_outgoing_transfer(
    database_url: str, sim: TronSimulator
) -> None:
    token = sim.deploy_token("TestUSDT")
    async with tron_harness(database_url, sim, token, confirmations=0) as h:
        sim.transfer(token, PAYER, WALLET, 30_000_000)
        sim.solidify(sim.produce()[0].number)
        await h.drain()
        seeded = await seed_refund(
            h.db,
            kind=RefundKind.DUPLICATE,
            blockchain="tron",
            wallet=WALLET,
            sender=PAYER,
            amount=12_000_000,
        )
        async with unit_of_work(h.db) as session:
            item = await refunds.get_item(session, seeded.item_id)
            address = claim_address(h.settings, Blockchain.TRON, Coin.USDT, SHOPPER)
            await refunds.claim(session, item, address)

        sim.transfer(token, WALLET, SHOPPER, 11_999_999)
        sim.transfer(token, WALLET, STRANGER, 12_000_000)
        sim.solidify(sim.produce()[0].number)
        await h.drain()
        assert await status(h, seeded.item_id) == ("claimed", None)

        txid = sim.transfer(token, WALLET, SHOPPER, 12_000_000)
        block = sim.produce()[0]
        await h.drain()
        assert await status(h, seeded.item_id) == ("claimed", None), "not before it is solid"
        sim.solidify(block.number)
        await h.drain()
        assert await status(h, seeded.item_id) == ("sent", txid)
