"""The one small interface every chain family implements, and the transfer record it yields.

A `ChainSource` only *reads* a chain: its head, the block hash at a height, and the incoming
transfers of our token contracts to our wallets in a block range. Everything that needs memory or a
database (cursors, confirmations, reorg handling, matching) lives in the chain-agnostic runner and
matcher, so a new chain family is one small module and the hard logic is written and tested once.

How a runner is expected to use a source (one loop per chain):

    head = await source.head()
    # scan [cursor + 1, head] in slices of the runner's choosing
    before = await source.block_hash(to_block)
    found = await source.transfers(from_block, to_block)
    after = await source.block_hash(to_block)
    # before != after: the chain reorganised under the scan, so scan the slice again; store
    # `after` as the cursor's hash and compare it on the next round to detect later reorgs.
    await source.wait_for_new_head(timeout=...)   # push or poll, the source knows which

Errors: a source raises `SourceUnavailable` when no node could answer (after its own failover and
retries). The runner backs off and tries again; it never treats an outage as "no transfers".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from app.chains import Blockchain, Coin, canonical_tx_id


class SourceError(Exception):
    """Base class of the errors a ChainSource raises."""


class SourceUnavailable(SourceError):
    """No configured node answered usefully (all failed, timed out, or kept erroring)."""


class SourceMisconfigured(SourceError):
    """A node answers for another chain than the configured one (a mis-pointed RPC URL).

    Not an outage: retrying would read the wrong chain, so the runner stops this chain's watcher
    and logs the message, which names the URL and both chain ids.
    """


@dataclass(frozen=True, slots=True)
class ObservedTransfer:
    """One token transfer to one of our wallets, exactly as a node reported it.

    The identity of a transfer is (blockchain, tx_hash, log_index): one transaction can move tokens
    several times (batch payouts, routers), and each log is its own transfer. Re-reading a block
    yields equal records, so storing them is idempotent.

    Address spelling is family-specific and documented by each source (EVM: EIP-55 checksummed);
    compare EVM addresses case-insensitively, base58 ones (TRON, Solana) exactly. `tx_hash` and
    `block_hash` are lowercase 0x-hex on EVM, lowercase hex on TRON and case-sensitive base58 on
    Solana (a transaction signature and a blockhash): ids keep their canonical form
    (`app.chains.canonical_tx_id`), never lowercased across the board.
    """

    blockchain: Blockchain
    token: Coin
    """Which configured coin the contract is (the contract decides, never the symbol it claims)."""
    contract_address: str
    tx_hash: str
    log_index: int
    from_address: str
    to_address: str
    amount: int
    """Base units of the token (e.g. 1 USDT = 1_000_000). Never a float."""
    block_number: int
    block_hash: str
    block_time: datetime
    """The block's timestamp, timezone-aware UTC."""
    removed: bool = False
    """True when the node says the log was removed by a reorg (subscriptions report this; a
    `transfers()` scan of the canonical chain normally never returns removed logs)."""
    references: tuple[str, ...] = ()
    """Solana Pay reference keys the transfer instruction carries (read-only, non-signer keys
    after its authority): a deposit whose reference is among them is paid by this transfer."""

    @property
    def key(self) -> tuple[str, str, int]:
        """(blockchain, tx_hash, log_index): the unique identity a database row should use."""
        return (str(self.blockchain), canonical_tx_id(self.tx_hash), self.log_index)


@runtime_checkable
class FinalitySource(Protocol):
    """A source whose chain says itself which blocks are final (Solana's `finalized`).

    The runner then pays a transfer once its block is at or below `finalized_head()` (and still
    canonical), instead of counting blocks from `head()`; progress is still counted from `head()`.
    """

    async def finalized_head(self) -> int:
        """Number of the newest final block."""
        ...


@runtime_checkable
class ChainSource(Protocol):
    """Reads one chain for one set of wallets and token contracts. Async, stateless for callers.

    Implementations keep only caches and connection state (which node works, adaptive query
    sizes), never anything the runner must persist: a fresh source after a restart behaves the same.
    """

    @property
    def blockchain(self) -> Blockchain:
        """The wire id of the chain this source reads (api.md §0)."""
        ...

    async def head(self) -> int:
        """Number of the latest block the node knows (unconfirmed: the runner applies depth)."""
        ...

    async def transfers(self, from_block: int, to_block: int) -> list[ObservedTransfer]:
        """Incoming transfers of our token contracts to our wallets in blocks `from_block` through
        `to_block` inclusive, ordered by (block_number, log_index).

        Every such transfer is returned, whatever its amount and sender (including zero amounts and
        mints), because nothing the chain says may be dropped; deciding what pays an order is the
        matcher's job. Only logs of the configured token contracts count, so a look-alike token
        with the same symbol sending the same amount is never returned. `to_block` should be at
        most `head()`. The source splits the range into node-sized queries itself.
        """
        ...

    async def block_hash(self, number: int) -> str | None:
        """Hash of the canonical block at `number` now, or None if the node has no such block yet.

        Never cached: the runner compares it with a stored hash to detect reorgs.
        """
        ...

    async def wait_for_new_head(self, timeout: float) -> None:
        """Return when a new block is probably available, or after at most `timeout` seconds.

        Lets the runner sleep exactly as long as needed: a push-capable source (EVM `newHeads`
        over WebSocket) returns as soon as the node announces a block, which is what makes
        detection take milliseconds instead of a poll interval; a polling source just sleeps its
        poll interval (capped by `timeout`). It never raises for an outage (the next `head()` will)
        and may return early, so the runner always re-reads `head()` afterwards.
        """
        ...

    async def close(self) -> None:
        """Release connections and background tasks. The source is unusable afterwards."""
        ...


__all__ = [
    "ChainSource",
    "FinalitySource",
    "ObservedTransfer",
    "SourceError",
    "SourceMisconfigured",
    "SourceUnavailable",
]
