"""The rate book: fixed beats sources, the peg, source order, staleness, stalls, /health data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.config import RatesSettings
from app.rates.book import NoFreshRate, RateBook
from app.rates.sources import Pair
from tests.rates.rate_server import RateServer

EUR = Pair("USDT", "EUR")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def book(server: RateServer | None = None, clock: Clock | None = None, **config: Any) -> RateBook:
    if server is not None:
        for name in ("coinbase", "kraken", "binance"):
            config.setdefault(name, {"url": server.url, "timeout_seconds": 0.5})
    config.setdefault("currencies", ["EUR"])
    return RateBook(RatesSettings(**config), ["USDT"], clock=clock or Clock())


def test_fixed_rates_alone_are_a_complete_setup() -> None:
    rates = book(fixed={"USDT/EUR": "0.9200"}, currencies=[])
    assert rates.rate(EUR).value == Decimal("0.9200")
    assert rates.rate(EUR).source == "fixed"
    assert not rates.needs_refresher
    assert not rates.degraded


def test_usd_peg_and_its_absence() -> None:
    pegged = book(currencies=[])
    assert pegged.rate(Pair("USDT", "USD")).value == 1
    assert pegged.rate(Pair("USDT", "USD")).source == "usd_peg"
    market = book(usd_peg=False, currencies=["USD"], sources=["coinbase"])
    with pytest.raises(NoFreshRate, match="no fresh rate for USDT/USD"):
        market.rate(Pair("USDT", "USD"))


def test_first_fresh_source_in_order_wins_and_stale_answers_are_refused() -> None:
    clock = Clock()
    rates = book(clock=clock, sources=["coinbase", "kraken"], max_age_seconds=60)
    rates.record("kraken", {EUR: Decimal("0.91")}, clock.now)
    rates.record("coinbase", {EUR: Decimal("0.90")}, clock.now - 30)
    assert rates.rate(EUR).source == "coinbase"
    clock.now += 31  # coinbase's answer is now 61 s old
    assert rates.rate(EUR).source == "kraken"
    clock.now += 30
    with pytest.raises(NoFreshRate):
        rates.rate(EUR)
    assert rates.degraded
    assert rates.status()["USDT/EUR"] == {"status": "stale", "age_seconds": 61.0}


def test_fixed_beats_every_source() -> None:
    clock = Clock()
    rates = book(clock=clock, sources=["coinbase"], fixed={"USDT/EUR": "0.95"})
    rates.record("coinbase", {EUR: Decimal("0.90")}, clock.now)
    assert rates.rate(EUR).value == Decimal("0.95")


async def test_refresh_falls_back_past_a_stalling_then_erroring_source(
    rate_server: RateServer,
) -> None:
    rate_server["coinbase"].mode = "stall"
    rate_server["kraken"].mode = "429"
    rate_server["binance"].rates["EURUSDT"] = "1.25"
    rates = book(rate_server, sources=["coinbase", "kraken", "binance"])
    async with httpx.AsyncClient(timeout=5) as client:
        await rates.refresh_once(client)
    assert rates.rate(EUR).value == Decimal("0.8")
    assert rates.rate(EUR).source == "binance"
    assert "no answer within 0.5 s" in rates.last_errors["coinbase"]
    assert "429" in rates.last_errors["kraken"]


async def test_refresh_stops_at_the_first_source_that_answers(rate_server: RateServer) -> None:
    rate_server["coinbase"].rates["USDT/EUR"] = "0.9001"
    rates = book(rate_server, sources=["coinbase", "kraken"])
    async with httpx.AsyncClient(timeout=5) as client:
        await rates.refresh_once(client)
    assert rates.rate(EUR).source == "coinbase"
    assert rate_server["kraken"].hits == 0


async def test_all_failing_keeps_old_answers_until_they_age(rate_server: RateServer) -> None:
    clock = Clock()
    rates = book(rate_server, clock, sources=["coinbase", "binance"], max_age_seconds=10)
    async with httpx.AsyncClient(timeout=5) as client:
        await rates.refresh_once(client)
        assert rates.rate(EUR).value == Decimal("0.9213")
        rate_server["coinbase"].mode = "garbage"
        rate_server["binance"].mode = "error"
        clock.now += 5
        await rates.refresh_once(client)
        assert rates.rate(EUR).value == Decimal("0.9213")  # 5 s old: still fresh
        clock.now += 6
        with pytest.raises(NoFreshRate):
            rates.rate(EUR)
    assert set(rates.last_errors) == {"coinbase", "binance"}
