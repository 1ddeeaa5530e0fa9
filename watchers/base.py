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

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

from app.chains import Blockchain, ChainFamily
from app.transfers.observed import ObservedTransfer
from watchers.settings import SourceConfig, source_config

if TYPE_CHECKING:
    from app.config import ChainSettings, WalletSettings

__all__ = [
    "ChainSource",
    "FinalitySource",
    "ObservedTransfer",
    "SourceBase",
    "SourceError",
    "SourceMisconfigured",
    "SourceUnavailable",
    "no_blocks_in",
]


class SourceError(Exception):
    """Base class of the errors a ChainSource raises."""


class SourceUnavailable(SourceError):
    """No configured node answered usefully (all failed, timed out, or kept erroring)."""


class SourceMisconfigured(SourceError):
    """A node answers for another chain than the configured one (a mis-pointed RPC URL).

    Not an outage: retrying would read the wrong chain, so the runner stops this chain's watcher
    and logs the message, which names the URL and both chain ids.
    """


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


class SourceBase:
    """What every chain family's source shares besides the interface: being built from settings
    (`watchers.settings` reads the tokens and wallets the same way for every family; a subclass
    names its `family` and adds its own options in `from_config`), its `blockchain`, and closing
    on the way out of `async with source:`."""

    family: ClassVar[ChainFamily]
    _blockchain: Blockchain

    @classmethod
    def from_settings(
        cls,
        blockchain: Blockchain | str,
        chain: ChainSettings,
        wallets: Iterable[WalletSettings],
        **options: Any,
    ) -> Self:
        """Build from `[chains.<blockchain>]` and the `[[wallets]]` of that chain; `options` are
        passed to the constructor and win over what the settings say."""
        config = source_config(blockchain, chain, wallets, cls.family)
        options.setdefault("poll_interval", chain.poll_interval_seconds)
        return cls.from_config(config, chain, options)

    @classmethod
    def from_config(
        cls, config: SourceConfig, chain: ChainSettings, options: dict[str, Any]
    ) -> Self:
        """The source for `config`, with the family's own settings from `chain` as defaults in
        `options`."""
        raise NotImplementedError

    @property
    def blockchain(self) -> Blockchain:
        """The wire id of the chain this source reads (api.md §0)."""
        return self._blockchain

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def no_blocks_in(from_block: int, to_block: int) -> bool:
    """The argument check every `ChainSource.transfers` makes: ValueError for a range that starts
    below block 0; True when the range holds no block (`to_block < from_block`)."""
    if from_block < 0:
        raise ValueError("from_block must be >= 0")
    return to_block < from_block
