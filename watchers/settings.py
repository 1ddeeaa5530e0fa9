"""What every chain family's source takes from the configuration, read one way for all of them.

A source is built from `[chains.<id>]` and the `[[wallets]]` of that chain. Which tokens it
watches is the same rule everywhere: the chain's built-in mainnet contracts (`app.chains`), with
`[chains.<id>.tokens.<COIN>]` entries replacing them coin by coin; and every wallet of the chain is
watched for every token, whatever its `enabled_coins`, because a transfer nobody asked for is still
recorded. Only the family-specific options (EVM chain id, TRON finality and API key) are the
source's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from app.chains import CHAINS, Blockchain, ChainFamily, ChainInfo, Coin

if TYPE_CHECKING:
    from app.config import ChainSettings, WalletSettings

TokenT = TypeVar("TokenT")

_FAMILY_NAMES = {
    ChainFamily.EVM: "an EVM",
    ChainFamily.TRON: "a TRON",
    ChainFamily.SOLANA: "a Solana",
}


@dataclass(frozen=True, slots=True)
class SourceConfig:
    blockchain: Blockchain
    info: ChainInfo
    tokens: dict[Coin | str, tuple[str, int]]
    """{coin: (contract or mint, decimals)}: built-in ones with the configured overrides."""
    wallets: list[str]
    """Addresses of this chain's `[[wallets]]`, as configured."""


def chain_of_family(blockchain: Blockchain | str, family: ChainFamily) -> ChainInfo:
    """The registry entry of `blockchain`; ValueError when it is not of `family`."""
    info = CHAINS[Blockchain(blockchain)]
    if info.family is not family:
        raise ValueError(f"{info.blockchain} is not {_FAMILY_NAMES[family]} chain")
    return info


def source_config(
    blockchain: Blockchain | str,
    chain: ChainSettings,
    wallets: Iterable[WalletSettings],
    family: ChainFamily,
) -> SourceConfig:
    """Tokens and wallets of `[chains.<blockchain>]`, for a source of `family`."""
    info = chain_of_family(blockchain, family)
    tokens: dict[Coin | str, tuple[str, int]] = {
        coin: (token.contract, token.decimals) for coin, token in info.tokens.items()
    }
    for coin, override in chain.tokens.items():
        tokens[coin] = (override.contract, override.decimals)
    addresses = [w.address for w in wallets if w.blockchain == info.blockchain]
    return SourceConfig(info.blockchain, info, tokens, addresses)


def tokens_by_contract(
    blockchain: Blockchain,
    tokens: Mapping[Coin | str, tuple[str, int]],
    key: Callable[[str], str],
    make: Callable[[Coin, str, int], TokenT],
) -> dict[str, TokenT]:
    """`make(coin, key(contract), decimals)` per configured token, keyed by the contract in the
    family's canonical spelling (`key` also validates it); a contract configured for two coins is
    a ValueError, since a transfer of it could not say which coin it paid."""
    found: dict[str, TokenT] = {}
    for coin, (contract, decimals) in tokens.items():
        canonical = key(contract)
        if canonical in found:
            raise ValueError(f"{blockchain}: contract {contract} configured twice")
        found[canonical] = make(Coin(coin), canonical, int(decimals))
    return found


__all__ = ["SourceConfig", "chain_of_family", "source_config", "tokens_by_contract"]
