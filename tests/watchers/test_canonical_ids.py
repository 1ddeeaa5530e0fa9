"""Transaction ids are stored in their canonical form: hex lowercased, base58 kept exactly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from app.chains import Blockchain, Coin, canonical_tx_id
from app.config import Settings
from app.db import unit_of_work
from app.models import Transfer
from watchers.base import ObservedTransfer
from watchers.matcher import MatchRules, ingest

# Two real-looking 64-byte signatures, base58, that differ only in the case of one letter.
SIG = "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW"
SIG_OTHER_CASE = SIG.replace("v8NM", "V8NM")


def test_hex_is_folded_and_base58_is_kept() -> None:
    assert canonical_tx_id("0xABCDEF" + "0" * 58) == "0xabcdef" + "0" * 58
    assert canonical_tx_id("ABCDEF" + "0" * 58) == "abcdef" + "0" * 58  # TRON
    assert canonical_tx_id(SIG) == SIG
    assert canonical_tx_id(f" {SIG} ") == SIG


def _observed(tx_hash: str, blockchain: Blockchain = Blockchain.SOLANA) -> ObservedTransfer:
    return ObservedTransfer(
        blockchain=blockchain,
        token=Coin.USDC,
        contract_address="EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        tx_hash=tx_hash,
        log_index=0,
        from_address="9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM",
        to_address="HvwC9QSAzvGXhhVrgPmauVwFWcYZhne3hVot9EbHuFTm",
        amount=1_000_000,
        block_number=100,
        block_hash="4sGjMW1sUnHzSxGspuhpqLDx6wiyjNtZAMdL4VZHirAn",
        block_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


async def test_solana_signatures_are_stored_exactly_and_never_merged(
    settings: Settings, db: Any
) -> None:
    rules = MatchRules.for_chain(settings, "solana")
    async with unit_of_work(db) as session:
        new = await ingest(session, rules, [_observed(SIG), _observed(SIG_OTHER_CASE)], 100)
    assert len(new) == 2
    async with unit_of_work(db) as session:  # re-reading the block stores nothing twice
        assert await ingest(session, rules, [_observed(SIG)], 101) == []
    async with db() as session:
        stored = set(await session.scalars(sa.select(Transfer.tx_hash)))
    assert stored == {SIG, SIG_OTHER_CASE}
    assert _observed(SIG).key == ("solana", SIG, 0)


async def test_evm_hashes_are_still_lowercased(settings: Settings, db: Any) -> None:
    rules = MatchRules.for_chain(settings, "eth")
    upper = "0x" + "AB" * 32
    async with unit_of_work(db) as session:
        await ingest(session, rules, [_observed(upper, Blockchain.ETH)], 100)
    async with db() as session:
        assert list(await session.scalars(sa.select(Transfer.tx_hash))) == [upper.lower()]
