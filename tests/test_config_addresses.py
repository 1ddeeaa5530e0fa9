"""Wallet and token-contract addresses in the config are checked at start, per chain family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.addresses import normalize_address, tron_address_problem
from app.config import ConfigError, load_settings
from tests.conftest import TEST_WALLET_ETH, TEST_WALLET_TRON, settings_dict, write_config

USDT_TRON = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def _load(tmp_path: Path, **changes: Any) -> Any:
    data = settings_dict("sqlite+aiosqlite:///unused.db")
    data.update(changes)
    return load_settings(write_config(tmp_path / "c.toml", data))


def _error(tmp_path: Path, **changes: Any) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, **changes)
    return str(info.value)


def test_valid_addresses_load_and_evm_ones_are_checksummed(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        wallets=[
            {"blockchain": "eth", "address": TEST_WALLET_ETH.lower(), "enabled_coins": ["USDT"]},
            {
                "blockchain": "polygon",
                "address": TEST_WALLET_ETH.upper().replace("0X", "0x"),
                "enabled_coins": ["USDC"],
            },
            {"blockchain": "tron", "address": TEST_WALLET_TRON, "enabled_coins": ["USDT"]},
        ],
        chains={
            "tron": {
                "api_urls": ["http://127.0.0.1:8090"],
                "tokens": {"USDT": {"contract": USDT_TRON, "decimals": 6}},
            },
            "eth": {
                "tokens": {
                    "USDT": {
                        "contract": "0xdac17f958d2ee523a2206206994597c13d831ec7",
                        "decimals": 6,
                    }
                }
            },
        },
    )
    assert [w.address for w in settings.wallets] == [
        TEST_WALLET_ETH,
        TEST_WALLET_ETH,
        TEST_WALLET_TRON,
    ]
    assert settings.chains["eth"].tokens["USDT"].contract == (
        "0xdAC17F958D2ee523a2206206994597C13D831ec7"
    )
    assert settings.chains["tron"].tokens["USDT"].contract == USDT_TRON


@pytest.mark.parametrize(
    ("blockchain", "address", "says"),
    [
        ("tron", TEST_WALLET_TRON[:-1] + "8", "checksum"),  # one character off
        ("tron", "TXyz1234567890abcdefghijklmnopqrst", "not a TRON address"),
        ("tron", "41a614f803b6fd780986a42c78ec9c7f77e6ded13c", "base58 form"),
        ("tron", TEST_WALLET_ETH, "not a TRON address"),
        ("tron", TEST_WALLET_TRON[:-2], "not a TRON address"),
        ("eth", TEST_WALLET_ETH[:-1] + "9", "EIP-55"),  # checksum no longer matches
        ("eth", TEST_WALLET_ETH[:-1], "not an EVM address"),
        ("base", TEST_WALLET_TRON, "not an EVM address"),
        ("eth", "0x" + "g" * 40, "not an EVM address"),
    ],
)
def test_bad_wallet_address_names_the_key(
    tmp_path: Path, blockchain: str, address: str, says: str
) -> None:
    wallets = [
        {"blockchain": "eth", "address": TEST_WALLET_ETH, "enabled_coins": ["USDT"]},
        {"blockchain": blockchain, "address": address, "enabled_coins": ["USDT"]},
    ]
    message = _error(tmp_path, wallets=wallets)
    where = f"([[wallets]] entry 2, blockchain = '{blockchain}')"
    assert f"wallets.1.address {where}: '{address}'" in message
    assert says in message
    assert "wallets.0" not in message


def test_bad_token_contract_names_the_key(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        chains={
            "tron": {
                "api_urls": ["http://127.0.0.1:8090"],
                "tokens": {"USDT": {"contract": USDT_TRON[:-1] + "u", "decimals": 6}},
            },
            "polygon": {"tokens": {"USDC": {"contract": USDT_TRON, "decimals": 6}}},
        },
    )
    assert (
        "chains.tron.tokens.USDT.contract: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u' has a wrong "
        "base58check checksum" in message
    )
    assert f"chains.polygon.tokens.USDC.contract: '{USDT_TRON}' is not an EVM address" in message


def test_tron_takes_api_urls_not_rpc_urls(tmp_path: Path) -> None:
    message = _error(tmp_path, chains={"tron": {"rpc_urls": ["http://127.0.0.1:8090/jsonrpc"]}})
    assert "chains.tron.rpc_urls: TRON is read over the java-tron HTTP API" in message


def test_every_bad_address_is_reported_at_once(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        wallets=[
            {"blockchain": "tron", "address": "Tbad", "enabled_coins": ["USDT"]},
            {"blockchain": "eth", "address": "0xbad", "enabled_coins": ["USDT"]},
        ],
    )
    assert "wallets.0.address" in message and "wallets.1.address" in message


def test_helpers() -> None:
    assert tron_address_problem(TEST_WALLET_TRON) is None
    assert tron_address_problem(USDT_TRON) is None
    assert normalize_address("tron", f" {USDT_TRON} ") == USDT_TRON  # type: ignore[arg-type]
    assert normalize_address("eth", TEST_WALLET_ETH.lower()) == TEST_WALLET_ETH  # type: ignore[arg-type]


def test_ocrch_example_placeholders_say_what_a_valid_address_looks_like(tmp_path: Path) -> None:
    """Ocrch's example config ships placeholder addresses: still refused, but the operator learns
    which `[[wallets]]` table is wrong and sees a valid address of that chain."""
    message = _error(
        tmp_path,
        wallets=[
            {"blockchain": "eth", "address": "0xYourEthereumAddress", "enabled_coins": ["USDT"]},
            {"blockchain": "tron", "address": "TYourTronAddress", "enabled_coins": ["USDT"]},
        ],
    )
    assert "[[wallets]] entry 1, blockchain = 'eth'" in message
    assert "[[wallets]] entry 2, blockchain = 'tron'" in message
    assert "e.g. 0x70997970C51812dc3A010C7d01b50e0d17dc79C8" in message
    assert "e.g. TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7" in message


SOLANA_WALLET = "HvwC9QSAzvGXhhVrgPmauVwFWcYZhne3hVot9EbHuFTm"


def test_solana_wallets_and_mints_are_base58_public_keys(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        wallets=[{"blockchain": "solana", "address": SOLANA_WALLET, "enabled_coins": ["USDC"]}],
        chains={
            "solana": {
                "rpc_urls": ["http://127.0.0.1:8899", "ws://127.0.0.1:8900"],
                "tokens": {
                    "USDC": {
                        "contract": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
                        "decimals": 6,
                    }
                },
            }
        },
    )
    assert settings.wallets[0].address == SOLANA_WALLET  # case-sensitive: kept exactly
    assert normalize_address("solana", "11111111111111111111111111111111") == "1" * 32  # type: ignore[arg-type]
    message = _error(
        tmp_path,
        wallets=[{"blockchain": "solana", "address": "0x" + "ab" * 20, "enabled_coins": ["USDC"]}],
    )
    assert "wallets.0.address" in message and "is not a Solana address" in message
    message = _error(
        tmp_path,
        wallets=[
            {"blockchain": "solana", "address": SOLANA_WALLET[:-1] + "0", "enabled_coins": ["USDC"]}
        ],
    )
    assert "'0' is not a base58 character" in message
    message = _error(
        tmp_path,
        wallets=[
            {"blockchain": "solana", "address": SOLANA_WALLET[:-4], "enabled_coins": ["USDC"]}
        ],
    )
    assert "not 32" in message or "is not a Solana address" in message


def test_solana_needs_an_http_rpc_url(tmp_path: Path) -> None:
    wallets = [{"blockchain": "solana", "address": SOLANA_WALLET, "enabled_coins": ["USDC"]}]
    message = _error(
        tmp_path, wallets=wallets, chains={"solana": {"rpc_urls": ["wss://node.example"]}}
    )
    assert "chains.solana.rpc_urls" in message and "http(s)://" in message
    message = _error(
        tmp_path, wallets=wallets, chains={"solana": {"api_urls": ["https://node.example"]}}
    )
    assert "none in api_urls" in message
