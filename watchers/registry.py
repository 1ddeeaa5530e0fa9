"""Which `ChainSource` reads which chain family. Adding a chain family is one entry here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from app.chains import CHAINS, Blockchain, ChainFamily
from app.config import ChainSettings, Settings, WalletSettings
from app.http import Services
from app.jobs import Job, holder_id
from watchers.base import ChainSource
from watchers.matcher import MatchRules
from watchers.runner import ChainRunner, RunnerOptions

log = logging.getLogger("watchers.registry")

SourceFactory = Callable[[Blockchain, ChainSettings, list[WalletSettings]], ChainSource]


def _evm(
    blockchain: Blockchain, chain: ChainSettings, wallets: list[WalletSettings]
) -> ChainSource:
    from watchers.evm import EvmSource

    return EvmSource.from_settings(blockchain, chain, wallets)


def _tron(
    blockchain: Blockchain, chain: ChainSettings, wallets: list[WalletSettings]
) -> ChainSource:
    from watchers.tron import TronSource

    return TronSource.from_settings(blockchain, chain, wallets)


def _solana(
    blockchain: Blockchain, chain: ChainSettings, wallets: list[WalletSettings]
) -> ChainSource:
    from watchers.solana import SolanaSource

    return SolanaSource.from_settings(blockchain, chain, wallets)


SOURCES: dict[ChainFamily, SourceFactory] = {
    # Imported when a chain of the family is configured: an `--api-only` replica never loads
    # web3 (~30 MB of a process's memory).
    ChainFamily.EVM: _evm,
    ChainFamily.TRON: _tron,
    ChainFamily.SOLANA: _solana,
}

MAX_SCAN_BLOCKS: dict[ChainFamily, int] = {ChainFamily.SOLANA: 100_000}
"""Solana's "blocks" are slots (2.5 a second, most of them without our transfers): a step reads
up to ~11 hours of slots, since a read costs one signature page per token account, not per slot."""


def build_sources(settings: Settings) -> list[ChainSource]:
    """A source for every configured chain that has endpoints and at least one wallet."""
    sources = []
    for blockchain, chain in settings.chains.items():
        wallets = [w for w in settings.wallets if w.blockchain == blockchain]
        if not wallets or not (chain.rpc_urls or chain.api_urls):
            log.warning(
                "watchers.skipped blockchain=%s reason=%s",
                blockchain,
                "no wallets" if not wallets else "no node URLs",
            )
            continue
        factory = SOURCES.get(CHAINS[blockchain].family)
        if factory is None:
            log.warning("watchers.unsupported blockchain=%s", blockchain)
            continue
        sources.append(factory(blockchain, chain, wallets))
    return sources


def watcher_jobs(services: Services, sources: list[ChainSource] | None = None) -> list[Job]:
    """One runner job per source; each holds `watcher:<chain>` so extra processes stand by."""
    settings = services.settings
    jobs: list[Job] = []
    for source in sources if sources is not None else build_sources(settings):
        chain = settings.chains[source.blockchain]
        runner = ChainRunner(
            services=services,
            source=source,
            rules=MatchRules.for_chain(settings, source.blockchain),
            holder=holder_id(),
            options=RunnerOptions(
                start_block=chain.start_block,
                idle_wait_seconds=chain.poll_interval_seconds,
                max_scan_blocks=MAX_SCAN_BLOCKS.get(
                    CHAINS[source.blockchain].family, RunnerOptions.max_scan_blocks
                ),
            ),
        )
        jobs.append(_closing(runner, source))
    return jobs


def _closing(runner: ChainRunner, source: ChainSource) -> Job:
    async def run(stop: asyncio.Event) -> None:
        try:
            await runner.run(stop)
        finally:
            await source.close()

    return run
