"""One loop per chain: hold the lease, scan new blocks, notice reorgs, settle at depth.

Network calls (the `ChainSource`) and database transactions never overlap: each step reads the
chain first, then writes what it learned in one short transaction. The cursor and the block
hashes it saw are stored with the transfers they cover, so a crash at any line resumes exactly
where the last commit left off, and re-reading a block is harmless (the inbox is idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import unit_of_work, utcnow
from app.http import Services
from app.leases import release, try_acquire
from app.observability import (
    DETECTION_LATENCY,
    PAID,
    RPC_ERRORS,
    WATCHER_HEAD,
    WATCHER_LAG,
)
from app.refunds.service import refunds_claimed, settle_outgoing
from app.transfers.models import ChainBlock, ChainCursor, Transfer
from app.transfers.service import (
    MatchRules,
    awaiting_depth,
    confirm,
    confirmations,
    due_for_confirmation,
    ingest,
    report_progress,
    rewind,
)
from watchers.base import (
    ChainSource,
    FinalitySource,
    ObservedTransfer,
    SourceError,
    SourceMisconfigured,
)

log = logging.getLogger("watchers.runner")

KEEP_BLOCK_HASHES = 256


@dataclass
class RunnerOptions:
    lease_seconds: float = 15.0
    max_scan_blocks: int = 2000
    """Largest block range one step reads (the source splits it further for its node)."""
    idle_wait_seconds: float = 5.0
    backoff_seconds: float = 2.0
    start_block: int | None = None
    """Where to start when the chain has no cursor yet; default: the current head."""


@dataclass
class ChainRunner:
    services: Services
    source: ChainSource
    rules: MatchRules
    holder: str
    options: RunnerOptions = field(default_factory=RunnerOptions)
    _pushed: dict[int, int] = field(default_factory=dict)

    @property
    def lease_name(self) -> str:
        return f"watcher:{self.rules.blockchain}"

    async def run(self, stop: asyncio.Event) -> None:
        log.info("watcher.start blockchain=%s holder=%s", self.rules.blockchain, self.holder)
        while not stop.is_set():
            wait = self.options.idle_wait_seconds
            try:
                if not await self._hold_lease():
                    wait = self.options.lease_seconds / 3
                elif await self.step():
                    continue
            except SourceMisconfigured as exc:
                log.critical("watcher.stopped blockchain=%s error=%s", self.rules.blockchain, exc)
                break
            except SourceError as exc:
                RPC_ERRORS.labels(self.rules.blockchain).inc()
                log.warning(
                    "watcher.source_error blockchain=%s error=%s", self.rules.blockchain, exc
                )
                wait = self.options.backoff_seconds
            except Exception:
                log.exception("watcher.step_failed blockchain=%s", self.rules.blockchain)
                wait = self.options.backoff_seconds
            await self._wait(stop, wait)
        async with unit_of_work(self.services.sessionmaker) as session:
            await release(session, self.lease_name, self.holder)

    async def _wait(self, stop: asyncio.Event, seconds: float) -> None:
        waiter = asyncio.create_task(self.source.wait_for_new_head(seconds))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait(
            {waiter, stopper}, timeout=seconds + 1, return_when=asyncio.FIRST_COMPLETED
        )
        for task in (waiter, stopper):
            task.cancel()

    async def _hold_lease(self) -> bool:
        async with unit_of_work(self.services.sessionmaker) as session:
            return await try_acquire(
                session, self.lease_name, self.holder, self.options.lease_seconds
            )

    async def step(self) -> bool:
        """One round of work; True if there is more to do right away."""
        head = await self.source.head()
        WATCHER_HEAD.labels(self.rules.blockchain).set(head)
        cursor = await self._cursor(head)
        if cursor is None:
            return False  # the start block is not on the node yet: wait, do not spin
        number, stored_hash = cursor
        if await self.source.block_hash(number) != stored_hash:
            await self._handle_reorg(number)
            return True
        more = False
        if number < head:
            to_block = min(head, number + self.options.max_scan_blocks)
            more = to_block < head
            await self._scan(number + 1, to_block, head, stored_hash)
            WATCHER_LAG.labels(self.rules.blockchain).set(head - to_block)
        await self._settle(head)
        return more

    async def _cursor(self, head: int) -> tuple[int, str] | None:
        async with self.services.sessionmaker() as session:
            row = await session.get(ChainCursor, self.rules.blockchain)
            if row is not None:
                return row.block_number, row.block_hash
        start = self.options.start_block
        number = max(0, (head if start is None else start) - 1)
        block_hash = await self.source.block_hash(number)
        if block_hash is None:
            log.warning(
                "watcher.start_block_ahead blockchain=%s start_block=%s head=%s",
                self.rules.blockchain,
                number + 1,
                head,
            )
            return None
        async with unit_of_work(self.services.sessionmaker) as session:
            await self._save_cursor(session, number, block_hash)
        log.info("watcher.cursor_seeded blockchain=%s block=%s", self.rules.blockchain, number)
        return number, block_hash

    async def _scan(self, from_block: int, to_block: int, head: int, parent_hash: str) -> None:
        before = await self.source.block_hash(to_block)
        found = await self.source.transfers(from_block, to_block)
        refunds = await self._refunds_paid(from_block, to_block)
        after = await self.source.block_hash(to_block)
        # The range must still hang off the cursor: a reorg between the cursor check and this
        # read would otherwise leave the transfers stored from the orphaned blocks waiting forever
        # (never rewound, never canonical), and a re-mined copy of one would be taken for a
        # duplicate. Not saving the cursor makes the next step's check find the reorg.
        if (
            before is None
            or before != after
            or await self.source.block_hash(from_block - 1) != parent_hash
        ):
            log.info(
                "watcher.moved_under_scan blockchain=%s block=%s", self.rules.blockchain, to_block
            )
            return
        async with unit_of_work(self.services.sessionmaker, self.services.publisher) as session:
            new = await ingest(session, self.rules, found, head)
            await settle_outgoing(session, refunds)
            await self._save_cursor(session, to_block, after)
        for transfer in new:
            DETECTION_LATENCY.labels(self.rules.blockchain).observe(
                max(0.0, time.time() - transfer.block_time.timestamp())
            )
            if transfer.deposit_id is not None:
                # ingest() told the page "detected, k of n": no second push for the same k.
                self._pushed[transfer.id] = confirmations(head, transfer.block_number)
        if new:
            log.info(
                "watcher.ingested blockchain=%s blocks=%s-%s new=%d",
                self.rules.blockchain,
                from_block,
                to_block,
                len(new),
            )

    async def _refunds_paid(self, from_block: int, to_block: int) -> list[ObservedTransfer]:
        """Transfers from our wallets in the blocks that reach their depth with this slice (the
        slice moved back by the depth, so each block is read once, already final), where the
        source reads them and a claimed refund waits (`app.refunds`)."""
        read = getattr(self.source, "outgoing", None)
        depth = self.rules.required_confirmations - 1
        low, high = max(0, from_block - depth), to_block - depth
        if read is None or high < low:
            return []
        async with self.services.sessionmaker() as session:
            if not await refunds_claimed(session, self.rules.blockchain):
                return []
        paid: list[ObservedTransfer] = await read(low, high)
        return paid

    async def _save_cursor(self, session: AsyncSession, number: int, block_hash: str) -> None:
        cursor = await session.get(ChainCursor, self.rules.blockchain)
        if cursor is None:
            session.add(
                ChainCursor(
                    blockchain=self.rules.blockchain,
                    block_number=number,
                    block_hash=block_hash,
                    updated_at=utcnow(),
                )
            )
        else:
            cursor.block_number, cursor.block_hash, cursor.updated_at = (
                number,
                block_hash,
                utcnow(),
            )
        await session.merge(
            ChainBlock(blockchain=self.rules.blockchain, block_number=number, block_hash=block_hash)
        )
        await session.execute(
            sa.delete(ChainBlock).where(
                ChainBlock.blockchain == self.rules.blockchain,
                ChainBlock.block_number < number - KEEP_BLOCK_HASHES,
            )
        )

    async def _handle_reorg(self, cursor_number: int) -> None:
        """Walk back the stored hashes to the newest block the node still agrees with."""
        async with self.services.sessionmaker() as session:
            known = (
                await session.execute(
                    sa.select(ChainBlock.block_number, ChainBlock.block_hash)
                    .where(
                        ChainBlock.blockchain == self.rules.blockchain,
                        ChainBlock.block_number <= cursor_number,
                    )
                    .order_by(ChainBlock.block_number.desc())
                )
            ).all()
        fork: tuple[int, str] | None = None
        for number, block_hash in known:
            if await self.source.block_hash(number) == block_hash:
                fork = (number, block_hash)
                break
        if fork is None:
            deepest = known[-1][0] if known else cursor_number
            number = max(0, deepest - 1)
            current = await self.source.block_hash(number)
            if current is None:
                raise SourceError(f"no block {number} to rewind to")
            fork = (number, current)
        log.warning(
            "watcher.reorg blockchain=%s cursor=%s fork=%s",
            self.rules.blockchain,
            cursor_number,
            fork[0],
        )
        async with unit_of_work(self.services.sessionmaker, self.services.publisher) as session:
            await rewind(session, self.rules, fork[0])
            await session.execute(
                sa.delete(ChainBlock).where(
                    ChainBlock.blockchain == self.rules.blockchain,
                    ChainBlock.block_number > fork[0],
                )
            )
            await self._save_cursor(session, *fork)

    async def _settle(self, head: int) -> None:
        """Pay what reached its depth on a still-canonical block; push progress for the rest."""
        depth_head = head
        if isinstance(self.source, FinalitySource):
            # Final means at or below the chain's own finalized block: express that as the head
            # at which those blocks have exactly the required depth.
            final = await self.source.finalized_head()
            depth_head = final + self.rules.required_confirmations - 1
        async with self.services.sessionmaker() as session:
            due = await due_for_confirmation(session, self.rules, depth_head)
            waiting = await awaiting_depth(session, self.rules)
        canonical: list[int] = []
        hashes: dict[int, str | None] = {}
        for transfer in due:
            if transfer.block_number not in hashes:
                hashes[transfer.block_number] = await self.source.block_hash(transfer.block_number)
            if hashes[transfer.block_number] == transfer.block_hash:
                canonical.append(transfer.id)
        if canonical:
            async with unit_of_work(self.services.sessionmaker, self.services.publisher) as session:
                paid = await confirm(session, self.rules, canonical)
            PAID.labels(self.rules.blockchain).inc(paid)
            for transfer_id in canonical:
                self._pushed.pop(transfer_id, None)
        if len(canonical) < len(due):
            # A block we were about to settle is gone: the next step's cursor check rewinds.
            log.warning("watcher.not_canonical blockchain=%s", self.rules.blockchain)
        settled = set(canonical)
        await self._push_progress([t for t in waiting if t.id not in settled], head)

    async def _push_progress(self, waiting: list[Transfer], head: int) -> None:
        changed = [
            t for t in waiting if self._pushed.get(t.id) != confirmations(head, t.block_number)
        ]
        if not changed:
            return
        async with unit_of_work(self.services.sessionmaker, self.services.publisher) as session:
            await report_progress(session, self.rules, changed, head)
        for transfer in changed:
            self._pushed[transfer.id] = confirmations(head, transfer.block_number)
