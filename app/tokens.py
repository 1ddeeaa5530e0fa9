"""What can be paid where: the chain registry, this deployment's overrides, and its wallets."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.chains import CHAINS, Blockchain, Coin, TokenInfo
from app.config import Settings

log = logging.getLogger("app.tokens")


@dataclass(frozen=True, slots=True)
class PaymentOption:
    blockchain: Blockchain
    coin: Coin
    token: TokenInfo
    wallets: tuple[str, ...]
    """The pool of receiving addresses for this pair, in config order."""
    chain_id: int | None


def resolve_token(settings: Settings, blockchain: Blockchain, coin: Coin) -> TokenInfo | None:
    chain = settings.chains.get(blockchain)
    if chain is not None and coin in chain.tokens:
        override = chain.tokens[coin]
        return TokenInfo(override.contract, override.decimals)
    return CHAINS[blockchain].tokens.get(coin)


def chain_id(settings: Settings, blockchain: Blockchain) -> int | None:
    chain = settings.chains.get(blockchain)
    if chain is not None and chain.chain_id is not None:
        return chain.chain_id
    return CHAINS[blockchain].evm_chain_id


def required_confirmations(settings: Settings, blockchain: Blockchain) -> int:
    """Blocks (including its own) a transfer needs before it pays; at least 1."""
    chain = settings.chains.get(blockchain)
    if chain is not None and chain.confirmations is not None:
        return max(chain.confirmations, 1)
    return max(CHAINS[blockchain].confirmations, 1)


def payment_options(settings: Settings, *, test: bool = False) -> list[PaymentOption]:
    """Every (chain, coin) a wallet is configured for and a token contract is known, config order.

    Ocrch lists pairs with no contract and never watches them (api.md §9.13); we leave them out.
    `test`: the pools of test-mode wallets instead of live ones (the two never share a wallet).
    """
    pools: dict[tuple[Blockchain, Coin], list[str]] = {}
    for wallet in settings.wallets:
        if wallet.test != test:
            continue
        for coin in wallet.enabled_coins:
            pool = pools.setdefault((wallet.blockchain, coin), [])
            if wallet.address not in pool:
                pool.append(wallet.address)
    options = []
    for (blockchain, coin), wallets in pools.items():
        token = resolve_token(settings, blockchain, coin)
        if token is None:
            log.warning("tokens.no_contract blockchain=%s coin=%s", blockchain, coin)
            continue
        options.append(
            PaymentOption(blockchain, coin, token, tuple(wallets), chain_id(settings, blockchain))
        )
    return options


def find_option(
    settings: Settings, blockchain: Blockchain, coin: Coin, *, test: bool = False
) -> PaymentOption | None:
    for option in payment_options(settings, test=test):
        if option.blockchain == blockchain and option.coin == coin:
            return option
    return None
