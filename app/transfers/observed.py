"""What a chain source reports: one token transfer to one of our wallets, exactly as seen.

Defined here, in the transfers domain, because `app.transfers.service` ingests it; the sources in
`watchers/` produce it (and `watchers.base` re-exports it for them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.chains import Blockchain, Coin, canonical_tx_id


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
