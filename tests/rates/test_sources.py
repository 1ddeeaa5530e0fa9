"""Each source against its provider's recorded JSON: decimals, never floats; errors named."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from app.rates.sources import (
    Pair,
    SourceError,
    fetch_binance,
    fetch_coinbase,
    fetch_kraken,
    parse_binance,
    parse_coinbase,
    parse_kraken,
)
from tests.rates.rate_server import FIXTURES, RateServer

EUR = Pair("USDT", "EUR")


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_coinbase_recorded_shape() -> None:
    rates = parse_coinbase(raw("coinbase_exchange_rates.json"), "USDT", ["EUR", "JPY", "XYZ"])
    assert rates == {EUR: Decimal("0.9213"), Pair("USDT", "JPY"): Decimal("149.85")}
    assert all(type(v) is Decimal for v in rates.values())


def test_coinbase_error_body_and_wrong_currency() -> None:
    with pytest.raises(SourceError, match="Currency is invalid"):
        parse_coinbase(raw("coinbase_error.json"), "USDT", ["EUR"])
    with pytest.raises(SourceError, match="not USDC"):
        parse_coinbase(raw("coinbase_exchange_rates.json"), "USDC", ["EUR"])


def test_kraken_recorded_shape_takes_last_trade() -> None:
    assert parse_kraken(raw("kraken_ticker.json"), EUR) == Decimal("0.92135")


def test_kraken_error_list() -> None:
    with pytest.raises(SourceError, match="Unknown asset pair"):
        parse_kraken(raw("kraken_error.json"), EUR)


def test_binance_direct_and_inverted_symbols() -> None:
    rates = parse_binance(
        raw("binance_ticker_price.json"),
        [EUR, Pair("USDT", "TRY"), Pair("USDC", "EUR"), Pair("DAI", "EUR")],
    )
    assert rates[Pair("USDT", "TRY")] == Decimal("34.52")
    assert rates[EUR] == Decimal("0.9214891264283081459638776262")  # 1 / 1.0852, 28 digits
    assert Pair("DAI", "EUR") not in rates


def test_binance_error_body() -> None:
    with pytest.raises(SourceError, match="-1121"):
        parse_binance(raw("binance_error.json"), [EUR])


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502</html>",
        b"[1, 2",
        b'{"data": {"currency": "USDT", "rates": {"EUR": "-1"}}}',
        b'{"data": {"currency": "USDT", "rates": {"EUR": "NaN"}}}',
        b'{"data": {"currency": "USDT", "rates": {"EUR": "abc"}}}',
    ],
)
def test_garbage_and_bad_prices_are_refused(body: bytes) -> None:
    with pytest.raises(SourceError):
        parse_coinbase(body, "USDT", ["EUR"])


def test_json_number_price_is_read_exactly_never_as_float() -> None:
    body = b'{"data": {"currency": "USDT", "rates": {"EUR": 0.92130000000000000001}}}'
    assert parse_coinbase(body, "USDT", ["EUR"]) == {EUR: Decimal("0.92130000000000000001")}
    body = json.dumps({"error": [], "result": {"X": {"c": ["1e400", "1"]}}}).encode()
    assert parse_kraken(body, EUR) == Decimal("1e400")


async def test_fetchers_against_the_local_provider(rate_server: RateServer) -> None:
    rate_server["coinbase"].rates["USDT/EUR"] = "0.9000"
    rate_server["kraken"].rates["USDT/EUR"] = "0.9100"
    rate_server["kraken"].rates["USDT/USD"] = "1.0001"
    rate_server["binance"].rates["EURUSDT"] = "1.25"
    usd = Pair("USDT", "USD")
    async with httpx.AsyncClient(timeout=2) as client:
        assert await fetch_coinbase(client, rate_server.url, [EUR]) == {EUR: Decimal("0.9000")}
        assert await fetch_kraken(client, rate_server.url, [EUR, usd]) == {
            EUR: Decimal("0.9100"),
            usd: Decimal("1.0001"),
        }
        assert await fetch_binance(client, rate_server.url, [EUR]) == {EUR: Decimal("0.8")}


@pytest.mark.parametrize(
    ("mode", "message"),
    [("error", "HTTP 400"), ("429", "HTTP 429"), ("garbage", "not JSON"), ("stall", "Timeout")],
)
async def test_failures_become_source_errors(
    rate_server: RateServer, mode: str, message: str
) -> None:
    rate_server["coinbase"].mode = mode
    async with httpx.AsyncClient(timeout=0.5) as client:
        with pytest.raises(SourceError, match=message):
            await fetch_coinbase(client, rate_server.url, [EUR])
    assert rate_server["coinbase"].hits == 1


async def test_kraken_unknown_pair_is_skipped_not_fatal(rate_server: RateServer) -> None:
    rate_server["kraken"].rates["USDT/EUR"] = "0.91"
    async with httpx.AsyncClient(timeout=2) as client:
        found = await fetch_kraken(client, rate_server.url, [EUR, Pair("DAI", "KWD")])
        assert found == {EUR: Decimal("0.91")}
        with pytest.raises(SourceError, match="Unknown asset pair"):
            await fetch_kraken(client, rate_server.url, [Pair("DAI", "KWD")])
