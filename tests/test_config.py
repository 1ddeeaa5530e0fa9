from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings
from app.secret_policy import new_secret

OCRCH_EXAMPLE = """
[server]
listen = "0.0.0.0:8080"

[admin]
secret = "change-me-to-a-secure-password"

[merchant]
name = "My Store"
secret = "your-merchant-secret-key"
allowed_origins = ["https://shop.example.com", "https://checkout.example.com"]
unknown_transfer_webhook_url = "https://shop.example.com/webhooks/unknown"

[api_keys]
etherscan_api_key = "YOUR_ETHERSCAN_KEY"
tronscan_api_key = "YOUR_TRONSCAN_KEY"

[[wallets]]
blockchain = "eth"
address = "0x1234567890abcdef1234567890abcdef12345678"
enabled_coins = ["USDT", "USDC"]
starting_tx = "0xabc"

[[wallets]]
blockchain = "tron"
address = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"
enabled_coins = ["USDT"]
"""
"""Ocrch's documented example, placeholders included."""
MERCHANT_SECRET = "Mq3Zt7Kx1Lw5Rv9Hn2Jc6Pb0Ys4Fd8Ga3Ue"
OCRCH_FILE = OCRCH_EXAMPLE.replace("change-me-to-a-secure-password", "Ad5Qk9Wz3Xn7Lr1M").replace(
    "your-merchant-secret-key", MERCHANT_SECRET
)
"""The same file as an operator runs it: with real secrets."""


def test_unchanged_ocrch_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "ocrch-config.toml"
    path.write_text(OCRCH_FILE)
    settings = load_settings(path)
    assert settings.merchant.secret == MERCHANT_SECRET
    assert [w.blockchain for w in settings.wallets] == ["eth", "tron"]
    assert settings.wallets[0].starting_tx == "0xabc"
    assert settings.orders.ttl_seconds == 1800
    assert settings.orders.late_payment_window_seconds == 86400
    assert settings.database_url.startswith("sqlite+aiosqlite:///")


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text(OCRCH_FILE)
    monkeypatch.setenv("STABLECHECKOUT_MERCHANT__SECRET", "from-env-" + "e" * 32)
    monkeypatch.setenv("STABLECHECKOUT_ORDERS__TTL_SECONDS", "600")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@h/db")
    settings = load_settings(path)
    assert settings.merchant.secret == "from-env-" + "e" * 32
    assert settings.merchant.name == "My Store"
    assert settings.orders.ttl_seconds == 600
    assert settings.database_url == "postgresql+asyncpg://u@h/db"


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (
            lambda s: s.replace('blockchain = "eth"', 'blockchain = "ethereum"'),
            "wallets.0.blockchain",
        ),
        (lambda s: s.replace(f'secret = "{MERCHANT_SECRET}"\n', ""), "merchant.secret"),
        (lambda s: s.replace('["USDT", "USDC"]', '["usdt"]'), "wallets.0.enabled_coins.0"),
        (lambda s: s.replace('listen = "0.0.0.0:8080"', 'listen = "8080"'), "server.listen"),
        (lambda s: s + "\n[orders]\nttl_secs = 5\n", "orders.ttl_secs"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, change, names: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.toml"
    path.write_text(change(OCRCH_FILE))
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert names in str(info.value)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_example_config_loads_once_its_secrets_are_filled() -> None:
    """The example refuses its placeholders; with generated secrets (what `make serve` does to
    its copy) it loads."""
    path = Path(__file__).parent.parent / "examples" / "config.toml"
    with pytest.raises(ConfigError, match="stablecheckout gen-secret"):
        load_settings(path)
    text = path.read_text().replace("replace-me-merchant-secret", new_secret())
    filled = tomllib.loads(text.replace("replace-me-admin-secret", new_secret()))
    settings = load_settings(None, **filled)
    assert settings.server.listen == "127.0.0.1:8080"
