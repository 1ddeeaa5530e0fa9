"""The chain and token registry: wire ids, EVM chain ids, mainnet token contracts and decimals.

Wire ids and coin spellings are part of the Ocrch contract (api.md §0). Contracts are the mainnet
ones; any of them can be overridden per deployment through ``[chains.<id>.tokens.<COIN>]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Blockchain(StrEnum):
    ETH = "eth"
    POLYGON = "polygon"
    BASE = "base"
    ARB = "arb"
    OP = "op"
    LINEA = "linea"
    AVAXC = "avaxc"
    TRON = "tron"
    BSC = "bsc"
    SOLANA = "solana"


class Coin(StrEnum):
    USDT = "USDT"
    USDC = "USDC"
    DAI = "DAI"


class ChainFamily(StrEnum):
    EVM = "evm"
    TRON = "tron"
    SOLANA = "solana"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    contract: str
    decimals: int


@dataclass(frozen=True, slots=True)
class ChainInfo:
    blockchain: Blockchain
    family: ChainFamily
    evm_chain_id: int | None
    confirmations: int
    webhook_label: str
    """How Ocrch names the chain in `unknown_transfer_received` webhooks (api.md §5)."""
    tokens: dict[Coin, TokenInfo]


_USDC_EVM = 6
_DAI = 18

CHAINS: dict[Blockchain, ChainInfo] = {
    Blockchain.ETH: ChainInfo(
        Blockchain.ETH,
        ChainFamily.EVM,
        1,
        12,
        "erc20:Ethereum",
        {
            Coin.USDT: TokenInfo("0xdAC17F958D2ee523a2206206994597C13D831ec7", 6),
            Coin.USDC: TokenInfo("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", _USDC_EVM),
            Coin.DAI: TokenInfo("0x6B175474E89094C44Da98b954EedeAC495271d0F", _DAI),
        },
    ),
    Blockchain.POLYGON: ChainInfo(
        Blockchain.POLYGON,
        ChainFamily.EVM,
        137,
        128,
        "erc20:Polygon",
        {
            # Ocrch lists Avalanche's USDt here; this is Polygon PoS USDT.
            Coin.USDT: TokenInfo("0xc2132D05D31c914a87C6611C10748AEb04B58e8F", 6),
            Coin.USDC: TokenInfo("0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", _USDC_EVM),
            Coin.DAI: TokenInfo("0x82E64f49Ed5EC1bC6e43DAD4FC8Af9bb3A2312EE", _DAI),
        },
    ),
    Blockchain.BASE: ChainInfo(
        Blockchain.BASE,
        ChainFamily.EVM,
        8453,
        10,
        "erc20:Base",
        {
            Coin.USDC: TokenInfo("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", _USDC_EVM),
            Coin.DAI: TokenInfo("0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb", _DAI),
        },
    ),
    Blockchain.ARB: ChainInfo(
        Blockchain.ARB,
        ChainFamily.EVM,
        42161,
        10,
        "erc20:ArbitrumOne",
        {
            Coin.USDC: TokenInfo("0xaf88d065e77c8cC2239327C5EDb3A432268e5831", _USDC_EVM),
            Coin.DAI: TokenInfo("0xDA10009cBd5D07dd0CeCc66161FC93D7c9000da1", _DAI),
        },
    ),
    Blockchain.OP: ChainInfo(
        Blockchain.OP,
        ChainFamily.EVM,
        10,
        10,
        "erc20:Optimism",
        {
            Coin.USDC: TokenInfo("0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85", _USDC_EVM),
            Coin.DAI: TokenInfo("0xDA10009cBd5D07dd0CeCc66161FC93D7c9000da1", _DAI),
        },
    ),
    Blockchain.LINEA: ChainInfo(
        Blockchain.LINEA,
        ChainFamily.EVM,
        59144,
        10,
        "erc20:Linea",
        {
            Coin.USDC: TokenInfo("0x176211869cA2b568f2A7D4EE941E073a821EE1ff", _USDC_EVM),
            Coin.DAI: TokenInfo("0x4AF15ec2A0BD43Db75dd04E62FAA3B8EF36b00d5", _DAI),
        },
    ),
    Blockchain.AVAXC: ChainInfo(
        Blockchain.AVAXC,
        ChainFamily.EVM,
        43114,
        12,
        "erc20:AvalancheC",
        {
            Coin.USDC: TokenInfo("0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", _USDC_EVM),
            Coin.DAI: TokenInfo("0xbA7dEebBFC5fA1100Fb055a87773e1E99Cd3507a", _DAI),
        },
    ),
    Blockchain.TRON: ChainInfo(
        Blockchain.TRON,
        ChainFamily.TRON,
        None,
        0,
        "trc20",
        {Coin.USDT: TokenInfo("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", 6)},
    ),
    # BNB Smart Chain: both stablecoins are 18-decimal BEP-20 tokens (6 on Ethereum). Fast finality
    # (BEP-126) finalizes in about two blocks; 15 blocks keeps a margin under any validator fault.
    Blockchain.BSC: ChainInfo(
        Blockchain.BSC,
        ChainFamily.EVM,
        56,
        15,
        "bep20:BSC",
        {
            Coin.USDT: TokenInfo("0x55d398326f99059fF775485246999027B3197955", 18),
            Coin.USDC: TokenInfo("0x8AC76a51cc950d9822D68b83fE1Ad97B32Cd580d", 18),
        },
    ),
    # Solana: "confirmations" is unused; a transfer is detected at `confirmed` and paid at
    # `finalized` commitment. The 32 here is only the nominal gap shown as progress ("k of 32").
    Blockchain.SOLANA: ChainInfo(
        Blockchain.SOLANA,
        ChainFamily.SOLANA,
        None,
        32,
        "spl:Solana",
        {
            Coin.USDC: TokenInfo("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6),
            Coin.USDT: TokenInfo("Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 6),
        },
    ),
}

COIN_DECIMALS: dict[Coin, int] = {
    coin: min(c.tokens[coin].decimals for c in CHAINS.values() if coin in c.tokens) for coin in Coin
}
"""The fewest decimals a coin has on any chain we know (USDT: 6, though 18 on BSC); checks order
amounts before a chain is chosen, so an order is payable on every chain that carries its coin."""

ANY_COIN_DECIMALS = min(COIN_DECIMALS.values())
"""An order that names no coin must be payable in every coin, so it may not be finer than this."""


_HEX_ID = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def canonical_tx_id(tx_id: str) -> str:
    """A transaction id as stored and compared: hex ids (EVM `0x…`, TRON) lowercase, others as is.

    Solana signatures are case-sensitive base58: lowercasing one would make another (or no)
    transaction's id, so only hex, whose case carries no meaning, is folded.
    """
    value = tx_id.strip()
    return value.lower() if _HEX_ID.match(value) else value
