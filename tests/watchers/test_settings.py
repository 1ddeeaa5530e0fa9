"""What every source takes from the configuration (`watchers.settings`): read once, for all."""

from __future__ import annotations

import pytest

from app.chains import CHAINS, Blockchain, ChainFamily, Coin
from app.config import ChainSettings, TokenSettings, WalletSettings
from tests.watchers.tronflow import WALLET as TRON_WALLET
from watchers.settings import chain_of_family, source_config, tokens_by_contract
from watchers.solana import SolanaSource
from watchers.tron import TronSource

SOLANA_WALLET = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
DEVNET_USDC = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"


def wallets() -> list[WalletSettings]:
    return [
        WalletSettings(blockchain=chain, address=address, enabled_coins=[Coin.USDT])
        for chain, address in [(Blockchain.SOLANA, SOLANA_WALLET), (Blockchain.TRON, TRON_WALLET)]
    ]


def test_built_in_tokens_with_overrides_and_only_this_chains_wallets() -> None:
    chain = ChainSettings(
        rpc_urls=["http://127.0.0.1:8899"],
        tokens={Coin.USDC: TokenSettings(contract=DEVNET_USDC, decimals=6)},
    )
    config = source_config("solana", chain, wallets(), ChainFamily.SOLANA)
    usdt = CHAINS[Blockchain.SOLANA].tokens[Coin.USDT]
    assert config.blockchain is Blockchain.SOLANA
    assert config.tokens == {Coin.USDC: (DEVNET_USDC, 6), Coin.USDT: (usdt.contract, 6)}
    assert config.wallets == [SOLANA_WALLET], "every coin, whatever enabled_coins says"


async def test_every_family_is_built_from_settings_the_same_way() -> None:
    solana = SolanaSource.from_settings(
        "solana",
        ChainSettings(rpc_urls=["http://127.0.0.1:9"], poll_interval_seconds=0.7),
        wallets(),
    )
    tron = TronSource.from_settings(
        "tron", ChainSettings(api_urls=["http://127.0.0.1:9"], confirmations=20), wallets()
    )
    try:
        assert (solana.blockchain, solana.poll_interval) == (Blockchain.SOLANA, 0.7)
        assert (tron.blockchain, tron.finality, tron.wallets) == (
            Blockchain.TRON,
            "head",
            frozenset({TRON_WALLET}),
        )
    finally:
        await solana.close()
        await tron.close()
    with pytest.raises(ValueError, match="solana is not a TRON chain"):
        TronSource.from_settings("solana", ChainSettings(api_urls=["http://x"]), wallets())
    with pytest.raises(ValueError, match="tron is not a Solana chain"):
        SolanaSource.from_settings("tron", ChainSettings(rpc_urls=["http://x"]), wallets())


def test_family_check() -> None:
    assert chain_of_family("bsc", ChainFamily.EVM).evm_chain_id == 56
    with pytest.raises(ValueError, match="eth is not a TRON chain"):
        chain_of_family(Blockchain.ETH, ChainFamily.TRON)
    with pytest.raises(ValueError):
        chain_of_family("dogecoin", ChainFamily.EVM)


def test_a_contract_configured_for_two_coins_is_refused_in_any_spelling() -> None:
    contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    made = tokens_by_contract(
        Blockchain.ETH, {Coin.USDT: (contract, 6)}, str.lower, lambda c, k, d: (c, k, d)
    )
    assert made == {contract.lower(): (Coin.USDT, contract.lower(), 6)}
    with pytest.raises(ValueError, match="configured twice"):
        tokens_by_contract(
            Blockchain.ETH,
            {Coin.USDT: (contract, 6), Coin.USDC: (contract.lower(), 6)},
            str.lower,
            lambda c, k, d: (c, k, d),
        )
