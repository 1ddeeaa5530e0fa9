"""What the chain would report, for tests that settle transfers without a chain: an
`ObservedTransfer` of TestUSDT on eth to the test wallet, and ingest-then-confirm at depth, the
two calls the watcher makes (at detection, then at depth)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.chains import Blockchain, Coin
from app.db import utcnow
from app.models import Transfer
from app.transfers.observed import ObservedTransfer
from app.transfers.service import MatchRules, confirm, ingest
from tests.conftest import TEST_WALLET_ETH


def seen(
    n: int,
    amount: int,
    *,
    to: str = TEST_WALLET_ETH,
    block: int | None = None,
    when: dt.datetime | None = None,
) -> ObservedTransfer:
    """Transfer number `n` (its tx hash) of `amount` base units to `to`, in block `block`
    (default 100 + n), at `when` (default now)."""
    number = 100 + n if block is None else block
    return ObservedTransfer(
        blockchain=Blockchain.ETH,
        token=Coin.USDT,
        contract_address="0xtoken",
        tx_hash=f"0x{n:064x}",
        log_index=0,
        from_address="0xpayer",
        to_address=to,
        amount=amount,
        block_number=number,
        block_hash=f"0x{number:064x}",
        block_time=when or utcnow(),
    )


async def settle(
    session: AsyncSession, rules: MatchRules, observed: Sequence[ObservedTransfer]
) -> list[Transfer]:
    """Ingest `observed` (the head at their highest block) and confirm what was new: the rows."""
    new = await ingest(session, rules, observed, max(t.block_number for t in observed))
    await confirm(session, rules, [t.id for t in new])
    return new


@contextlib.contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL `engine` runs inside the block, whitespace folded and upper-cased."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()).upper())

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)
