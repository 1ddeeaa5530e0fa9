"""Reorgs on a real anvil: `evm_snapshot` before a payment, `evm_revert` after it was seen, then a
different, longer chain. A transfer that disappears before its depth pays nothing; if the same
signed transaction is mined again on the new chain, it pays its order exactly once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from eth_account import Account
from web3 import AsyncWeb3
from web3.types import TxParams, Wei

from app.models import ChainCursor, Transfer, WebhookEvent
from devkit.chain.anvil import (
    ANVIL_ACCOUNTS,
    ANVIL_PRIVATE_KEYS,
    AnvilProcess,
    mine,
    revert,
    snapshot,
    token_contract,
    wait_for_receipt,
)
from tests.watchers.chainflow import Harness, harness
from tests.watchers.conftest import PAYER, WALLET
from watchers.base import ChainSource, ObservedTransfer

assert ANVIL_ACCOUNTS[1] == PAYER
PAYER_KEY = ANVIL_PRIVATE_KEYS[1]


async def signed_transfer(
    w3: AsyncWeb3[Any], token: str, to: str, amount: int, *, tip_gwei: int = 1
) -> bytes:
    """A raw, signed `transfer(to, amount)` from PAYER, as a wallet would broadcast it."""
    call = token_contract(w3, token).functions.transfer(w3.to_checksum_address(to), amount)
    params: TxParams = {
        "from": PAYER,
        "nonce": await w3.eth.get_transaction_count(PAYER),
        "gas": 100_000,
        "maxFeePerGas": Wei(50 * 10**9),
        "maxPriorityFeePerGas": Wei(tip_gwei * 10**9),
        "chainId": 31337,
    }
    tx = await call.build_transaction(params)
    raw: bytes = Account.sign_transaction(tx, PAYER_KEY).raw_transaction
    return raw


async def broadcast(w3: AsyncWeb3[Any], raw: bytes) -> str:
    tx_hash = await w3.eth.send_raw_transaction(raw)
    await wait_for_receipt(w3, tx_hash)
    return str(tx_hash.to_0x_hex())


async def paid_events(h: Harness) -> list[WebhookEvent]:
    return [e for e in await h.events() if e.payload.get("status") == "paid"]


async def test_reorg_before_depth_pays_nothing_then_the_re_mined_payment_pays_once(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    async with harness(database_url, [anvil.http_url], token, confirmations=3) as h:
        await h.drain()
        order_id, amount = await h.open_order("15")
        fork_point = await snapshot(w3)
        raw = await signed_transfer(w3, token, WALLET, amount)
        tx_hash = await broadcast(w3, raw)
        await mine(w3)  # 2 of 3 confirmations on the old chain
        await h.drain()
        [seen] = await h.transfers()
        assert (seen.tx_hash, seen.status, seen.order_id) == (
            tx_hash,
            "waiting_for_confirmation",
            order_id,
        )
        assert h.recorder.for_order(order_id)[-1]["order"]["confirmations"] == 2
        old_block, old_hash = seen.block_number, seen.block_hash

        # The chain reorganises: the payment's blocks vanish, a longer chain without it wins.
        old_head = await w3.eth.block_number
        assert await revert(w3, fork_point)
        await mine(w3, 4)
        assert await w3.eth.block_number > old_head
        await h.drain()
        [gone] = await h.transfers()
        assert (gone.status, gone.order_id, gone.deposit_id) == ("orphaned", None, None)
        assert await h.status(order_id) == "pending"
        assert await h.events() == []
        last = h.recorder.for_order(order_id)[-1]["order"]
        assert last["status"] == "pending" and last.get("transfer") is None, "page un-told"
        await mine(w3, 3)
        await h.drain()
        assert await h.status(order_id) == "pending", "an orphaned transfer never pays"

        # The wallet re-broadcasts the same signed transaction: same hash, same log index, a
        # new block. It is the same row, seen again, and pays once at depth.
        assert await broadcast(w3, raw) == tx_hash
        await h.drain()
        [again] = await h.transfers()
        assert again.id == gone.id and again.status == "waiting_for_confirmation"
        assert again.block_number > old_block and again.block_hash != old_hash
        assert again.order_id == order_id
        await mine(w3, 2)
        await h.drain()
        assert await h.status(order_id) == "paid"
        await mine(w3, 2)
        await h.drain()
        [final] = await h.transfers()
        assert final.status == "matched" and final.confirmed
        assert len(await paid_events(h)) == 1
        assert len(await h.events()) == 1


async def test_reorg_to_a_chain_with_a_different_payment_pays_the_new_one_once(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    """The payer's first transaction is replaced (same nonce) by another one on the new chain."""
    async with harness(database_url, [anvil.http_url], token, confirmations=2) as h:
        await h.drain()
        order_id, amount = await h.open_order("16")
        fork_point = await snapshot(w3)
        first = await broadcast(w3, await signed_transfer(w3, token, WALLET, amount))
        await h.drain()
        assert await revert(w3, fork_point)
        await mine(w3, 2)
        # A different transaction with the same nonce (a "speed-up"): another hash.
        replacement = await signed_transfer(w3, token, WALLET, amount, tip_gwei=2)
        second = await broadcast(w3, replacement)
        assert second != first
        await h.drain()
        await mine(w3)
        await h.drain()
        assert await h.status(order_id) == "paid"
        rows = await h.transfers()
        assert [(r.tx_hash, r.status) for r in rows] == [(first, "orphaned"), (second, "matched")]
        assert len(await paid_events(h)) == 1


class ReorgDuringStep:
    """A ChainSource that lets a test change the chain between two of the runner's calls.

    `trigger(number)` runs once, when the runner first asks `block_hash(number)` for a number
    above `after`: after the runner's cursor check, before it reads the new range.
    """

    def __init__(self, inner: ChainSource) -> None:
        self.inner = inner
        self.after: int | None = None
        self.trigger: Callable[[], Awaitable[None]] | None = None

    @property
    def blockchain(self) -> Any:
        return self.inner.blockchain

    async def head(self) -> int:
        return await self.inner.head()

    async def transfers(self, from_block: int, to_block: int) -> list[ObservedTransfer]:
        return await self.inner.transfers(from_block, to_block)

    async def block_hash(self, number: int) -> str | None:
        if self.trigger is not None and self.after is not None and number > self.after:
            trigger, self.trigger = self.trigger, None
            await trigger()
        return await self.inner.block_hash(number)

    async def wait_for_new_head(self, timeout: float) -> None:
        await self.inner.wait_for_new_head(timeout)

    async def close(self) -> None:
        await self.inner.close()


async def test_reorg_between_the_cursor_check_and_the_scan_is_not_missed(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    """The chain reorganises after the runner checked its cursor but before it read new blocks.

    The range it then reads belongs to the new chain while the transfer it stored earlier sits in
    an orphaned block: the runner must notice (its cursor no longer connects to what it read) and
    orphan that transfer, not keep it waiting forever or let it block the re-mined payment.
    """
    source: ReorgDuringStep | None = None

    def wrap(inner: ChainSource) -> ChainSource:
        nonlocal source
        source = ReorgDuringStep(inner)
        return source

    async with harness(database_url, [anvil.http_url], token, confirmations=2, wrap=wrap) as h:
        assert source is not None
        await h.drain()
        order_id, amount = await h.open_order("17")
        fork_point = await snapshot(w3)
        raw = await signed_transfer(w3, token, WALLET, amount)
        tx_hash = await broadcast(w3, raw)
        await h.drain()
        [seen] = await h.transfers()
        assert seen.status == "waiting_for_confirmation"

        async def reorg() -> None:
            assert await revert(w3, fork_point)
            await mine(w3, 3)

        await mine(w3)  # one new block for the runner to scan
        source.after, source.trigger = seen.block_number, reorg
        await h.drain()
        assert source.trigger is None, "the reorg happened mid-step"
        await mine(w3)
        await h.drain()
        [gone] = await h.transfers()
        assert gone.status == "orphaned"
        assert await h.status(order_id) == "pending"

        assert await broadcast(w3, raw) == tx_hash
        await mine(w3)
        await h.drain()
        assert await h.status(order_id) == "paid"
        async with h.db() as session:
            stuck = await session.scalar(
                sa.select(sa.func.count())
                .select_from(Transfer)
                .where(Transfer.status == "waiting_for_confirmation")
            )
        assert stuck == 0
        assert len(await paid_events(h)) == 1


async def test_reorg_deeper_than_the_cursor_rewinds_to_the_common_block(
    database_url: str, anvil: AnvilProcess, w3: AsyncWeb3[Any], token: str
) -> None:
    """The new chain is shorter than what was scanned: the runner walks back to the fork."""
    async with harness(database_url, [anvil.http_url], token, confirmations=6) as h:
        await h.drain()
        order_id, amount = await h.open_order("18")
        fork_point = await snapshot(w3)
        fork_block = await w3.eth.block_number
        for _ in range(3):
            await mine(w3)
            await h.drain()  # several stored block hashes above the fork
        await broadcast(w3, await signed_transfer(w3, token, WALLET, amount))
        await mine(w3)
        await h.drain()
        assert [r.status for r in await h.transfers()] == ["waiting_for_confirmation"]
        assert await revert(w3, fork_point)
        await mine(w3)  # shorter than before: the cursor's block does not exist any more
        await h.drain()
        assert [r.status for r in await h.transfers()] == ["orphaned"]
        async with h.db() as session:
            cursor = await session.get(ChainCursor, "eth")
            assert cursor is not None and cursor.block_number == fork_block + 1
            assert cursor.block_hash == (await w3.eth.get_block("latest"))["hash"].to_0x_hex()
        await mine(w3, 10)
        await h.drain()
        assert await h.status(order_id) == "pending"
        assert await h.events() == []
