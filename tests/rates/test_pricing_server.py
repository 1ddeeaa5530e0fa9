"""Fiat pricing through a real `stablecheckout serve` and the local rate provider: EUR, JPY, KWD
and USD orders quoted per coin, source fallback, the manual override, 503 when every rate is
stale, and the re-quote once a quote outlives `quote_ttl_seconds`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.db import create_engine, create_sessionmaker
from app.payments.models import Deposit, DepositStatus
from tests.conftest import ServerProcess, empty_database, settings_dict, start_server, write_config
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers
from tests.rates.rate_server import RateServer

QUOTE_TTL = 4
MAX_AGE = 3


@pytest.fixture(scope="module")
def pricing_server(
    _rate_server_process: RateServer, postgresql_database_url: str, tmp_path_factory: Any
) -> Iterator[ServerProcess]:
    asyncio.run(empty_database(postgresql_database_url))
    source = {"url": _rate_server_process.url, "timeout_seconds": 0.5}
    data = settings_dict(
        postgresql_database_url,
        rates={
            "sources": ["coinbase", "kraken"],
            "refresh_seconds": 1,
            "max_age_seconds": MAX_AGE,
            "spread_percent": "1",
            "quote_ttl_seconds": QUOTE_TTL,
            "usd_peg": True,
            "currencies": ["EUR", "JPY", "KWD"],
            "coinbase": source,
            "kraken": source,
            "fixed": {"USDT/GBP": "0.80"},
        },
    )
    workdir = tmp_path_factory.mktemp("pricing")
    config = write_config(workdir / "config.toml", data)
    server = start_server(
        config, postgresql_database_url, workdir / "serve.log", "--api-only", ready=(200, 503)
    )
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture
async def api(pricing_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=pricing_server.url, timeout=10) as client:
        yield client


@pytest.fixture
async def deposits(postgresql_database_url: str) -> AsyncIterator[Any]:
    engine = create_engine(postgresql_database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def wait_for_rate(
    api: httpx.AsyncClient, pair: str, *, source: str | None = None, rate: str | None = None
) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    item: dict[str, Any] = {}
    while time.monotonic() < deadline:
        item = (await api.get("/health")).json()["rates"][pair]
        if (
            item["status"] == "ok"
            and source in (None, item["source"])
            and rate in (None, item["rate"])
        ):
            return item
        await asyncio.sleep(0.2)
    raise AssertionError(f"{pair} never reached source={source} rate={rate}: {item}")


async def create(api: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    raw = body_bytes(order_body(order_id=f"o-{time.monotonic_ns()}", **fields))
    return await api.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))


async def quote(
    api: httpx.AsyncClient, amount: str, currency: str, coin: str = "USDT", chain: str = "eth"
) -> dict[str, Any]:
    created = await create(api, amount=amount, currency=currency)
    assert created.status_code == 201, created.text
    assert created.json()["currency"] == currency
    order_id = created.json()["order_id"]
    return await pay(api, order_id, coin, chain)


async def pay(api: httpx.AsyncClient, order_id: str, coin: str = "USDT", chain: str = "eth") -> Any:
    answer = await api.post(
        f"/api/v1/user/orders/{order_id}/payment",
        json={"blockchain": chain, "stablecoin": coin},
        headers=user_headers(checkout_url(order_id)),
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_eur_order_quotes_usdt_rounded_up_with_spread_and_unique(
    api: httpx.AsyncClient, rate_server: RateServer
) -> None:
    rate_server["coinbase"].rates["USDT/EUR"] = "0.92"
    await wait_for_rate(api, "USDT/EUR", source="coinbase", rate="0.92")
    before = int(time.time())
    first = await quote(api, "10.00", "EUR")
    # 10.00 / 0.92 * 1.01 = 10.97826… → 10.98
    assert first["amount"] == "10.98"
    assert first["amount_base_units"] == "10980000"
    q = first["quote"]
    assert (q["currency"], q["fiat_amount"], q["rate"], q["source"]) == (
        "EUR",
        "10.00",
        "0.92",
        "coinbase",
    )
    assert before - MAX_AGE - 1 <= q["fetched_at"] <= int(time.time())
    assert before + QUOTE_TTL <= q["expires_at"] <= int(time.time()) + QUOTE_TTL
    second = await quote(api, "10", "EUR")
    assert second["amount"] == "10.9801"  # same quote, made unique by one step
    status = await api.get(
        f"/api/v1/user/orders/{first['order_id']}/status",
        headers=user_headers(checkout_url(first["order_id"])),
    )
    order = status.json()
    assert order["currency"] == "EUR" and order["amount"] == "10.00"
    assert order["payment"]["quote"] == q
    assert order["payment"]["amount"] == "10.980000"


async def test_fallback_to_the_second_source_when_the_first_stalls(
    api: httpx.AsyncClient, rate_server: RateServer
) -> None:
    rate_server["coinbase"].mode = "stall"
    rate_server["kraken"].rates["USDT/EUR"] = "0.95"
    await wait_for_rate(api, "USDT/EUR", source="kraken", rate="0.95")
    answer = await quote(api, "19.00", "EUR")
    assert answer["amount"] == "20.20"  # 19 / 0.95 * 1.01 = 20.20 exactly
    assert answer["quote"]["source"] == "kraken"
    started = time.monotonic()
    health = await api.get("/health")  # requests never wait on the stalled provider
    assert time.monotonic() - started < 0.5
    assert health.json()["rates"]["USDT/EUR"]["source"] == "kraken"
    assert health.json()["rates"]["USDC/JPY"]["status"] == "stale"  # only coinbase had it


async def test_manual_rate_beats_every_source(
    api: httpx.AsyncClient, rate_server: RateServer
) -> None:
    rate_server["coinbase"].rates["USDT/GBP"] = "0.70"
    answer = await quote(api, "8.00", "GBP")
    assert answer["amount"] == "10.10"  # 8 / 0.80 * 1.01
    assert answer["quote"]["source"] == "fixed"
    assert answer["quote"]["rate"] == "0.80"


async def test_usd_order_with_usd_peg(api: httpx.AsyncClient) -> None:
    answer = await quote(api, "25.00", "USD", coin="USDT", chain="tron")
    assert answer["amount"] == "25.25"
    assert (answer["quote"]["rate"], answer["quote"]["source"]) == ("1", "usd_peg")


async def test_jpy_and_kwd_orders(api: httpx.AsyncClient, rate_server: RateServer) -> None:
    rate_server["coinbase"].rates["USDC/JPY"] = "149.85"
    rate_server["coinbase"].rates["USDC/KWD"] = "0.30745"
    await wait_for_rate(api, "USDC/KWD", source="coinbase", rate="0.30745")
    jpy = await quote(api, "1500", "JPY", coin="USDC")
    assert jpy["amount"] == "10.12"  # 1500 / 149.85 * 1.01 = 10.1101… → 10.12
    assert jpy["quote"]["fiat_amount"] == "1500"
    kwd = await quote(api, "3.075", "KWD", coin="USDC")
    assert kwd["amount"] == "10.11"  # 3.075 / 0.30745 * 1.01 = 10.1016… → 10.11
    assert kwd["quote"]["fiat_amount"] == "3.075"


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("1500.5", "JPY", "finer than JPY"),
        ("1.0001", "KWD", "finer than KWD"),
        ("10", "XYZ", "not an ISO 4217"),
        ("10", "CHF", "CHF is not configured"),
        ("0", "EUR", "greater than 0"),
    ],
)
async def test_invalid_fiat_orders_are_refused(
    api: httpx.AsyncClient, amount: str, currency: str, message: str
) -> None:
    answer = await create(api, amount=amount, currency=currency)
    assert answer.status_code == 400
    assert message in answer.text


async def test_503_when_every_source_is_stale_then_recovery(
    api: httpx.AsyncClient, rate_server: RateServer
) -> None:
    rate_server["coinbase"].mode = "error"
    rate_server["kraken"].mode = "garbage"
    deadline = time.monotonic() + 20
    while (await api.get("/health")).json()["status"] != "degraded":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    health = (await api.get("/health")).json()
    assert health["rates"]["USDT/EUR"]["status"] == "stale"
    assert health["rates"]["USDT/GBP"]["status"] == "ok"  # fixed rates never go stale
    metrics = (await api.get("/metrics")).text
    assert 'stablecheckout_rate_fresh{pair="USDT/EUR"} 0.0' in metrics
    assert 'stablecheckout_rate_fresh{pair="USDT/GBP"} 1.0' in metrics
    created = await create(api, amount="12.00", currency="EUR")
    order_id = created.json()["order_id"]
    answer = await api.post(
        f"/api/v1/user/orders/{order_id}/payment",
        json={"blockchain": "eth", "stablecoin": "USDT"},
        headers=user_headers(checkout_url(order_id)),
    )
    assert answer.status_code == 503
    assert answer.text == "no fresh rate for USDT/EUR"
    rate_server["coinbase"].mode = "ok"
    await wait_for_rate(api, "USDT/EUR", source="coinbase")
    assert (await pay(api, order_id))["quote"]["source"] == "coinbase"


async def test_requote_after_ttl_keeps_the_old_amount_reserved(
    api: httpx.AsyncClient, rate_server: RateServer, deposits: Any
) -> None:
    rate_server["coinbase"].rates["USDT/EUR"] = "0.92"
    await wait_for_rate(api, "USDT/EUR", source="coinbase", rate="0.92")
    created = await create(api, amount="46.00", currency="EUR")
    order_id = created.json()["order_id"]
    first = await pay(api, order_id)
    assert first["amount"] == "50.50"  # 46 / 0.92 * 1.01
    rate_server["coinbase"].rates["USDT/EUR"] = "0.80"
    await wait_for_rate(api, "USDT/EUR", source="coinbase", rate="0.80")
    again = await pay(api, order_id)
    assert again["amount"] == first["amount"]  # locked for the quote's life
    assert again["quote"] == first["quote"]
    await asyncio.sleep(max(0.0, first["quote"]["expires_at"] - time.time()) + 1.2)
    fresh = await pay(api, order_id)
    assert fresh["amount"] == "58.08"  # 46 / 0.80 * 1.01 = 58.075 → 58.08
    assert fresh["quote"]["rate"] == "0.80"
    assert fresh["quote"]["expires_at"] > first["quote"]["expires_at"]
    async with deposits() as session:
        rows = (
            await session.execute(
                sa.select(Deposit.amount, Deposit.status, Deposit.quote_rate, Deposit.quote_source)
                .where(Deposit.order_id == order_id)
                .order_by(Deposit.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (50_500_000, DepositStatus.ACTIVE, "0.92", "coinbase"),
        (58_080_000, DepositStatus.ACTIVE, "0.80", "coinbase"),
    ]
