"""`[rates]` as the issue writes it loads; fixed rates alone are a setup; bad values are named."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings

BASE = """
[admin]
secret = "s"
[merchant]
name = "Shop"
secret = "k"
[[wallets]]
blockchain = "eth"
address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
enabled_coins = ["USDT"]
"""

ISSUE = """
[rates]
sources = ["coinbase", "kraken", "binance"]
refresh_seconds = 30
max_age_seconds = 120
spread_percent = "0"
quote_ttl_seconds = 900
usd_peg = true
[rates.coinbase]
url = "https://api.coinbase.com"
[rates.fixed]
"USDT/EUR" = "0.9200"
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.toml"
    path.write_text(BASE + text)
    return load_settings(path)


def test_the_issue_example_loads(tmp_path: Path) -> None:
    settings = load(tmp_path, ISSUE)
    rates = settings.rates  # type: ignore[attr-defined]
    assert rates.sources == ["coinbase", "kraken", "binance"]
    assert rates.fixed == {"USDT/EUR": Decimal("0.9200")}
    assert rates.fiat_currencies == ["EUR", "USD"]
    assert rates.kraken.url == "https://api.kraken.com"


def test_fixed_rates_alone_and_one_second_timings(tmp_path: Path) -> None:
    text = '[rates]\nrefresh_seconds = 1\nmax_age_seconds = 1\n[rates.fixed]\n"usdc/gbp" = "0.79"\n'
    rates = load(tmp_path, text).rates  # type: ignore[attr-defined]
    assert rates.sources == [] and rates.fixed == {"USDC/GBP": Decimal("0.79")}
    assert (rates.refresh_seconds, rates.max_age_seconds) == (1, 1)


def test_no_rates_section_means_coin_pricing(tmp_path: Path) -> None:
    assert load(tmp_path, "").rates is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rates]\nspread_percent = 1.5\n", "write 1.5 as a string"),
        ('[rates.fixed]\n"USDT/EUR" = 0.92\n', "write 0.92 as a string"),
        ('[rates.fixed]\n"USDT/EUR" = "0"\n', "must be > 0"),
        ('[rates.fixed]\n"BTC/EUR" = "1"\n', "rates.fixed"),
        ('[rates.fixed]\nUSDTEUR = "1"\n', "not a pair"),
        ('[rates]\ncurrencies = ["EURO"]\n', "not an ISO 4217"),
        ('[rates]\nsources = ["bitstamp"]\n', "rates.sources"),
        ("[rates]\nrefresh_seconds = 0\n", "rates.refresh_seconds"),
        ("[rates]\nmax_age_seconds = 0\n", "rates.max_age_seconds"),
        ('[rates]\nspread_percent = "-1"\n', "rates.spread_percent"),
        ('[rates.coinbase]\nurl = "http://x"\nretries = 3\n', "retries"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as error:
        load(tmp_path, text)
    assert message in str(error.value)
