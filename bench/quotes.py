"""Benchmark: what fiat pricing adds to a checkout, while the rate provider is slow (issue 17).

    uv run python bench/quotes.py            # 50,000 quotes + 300 payments of each kind
    uv run python bench/quotes.py --quick    # smoke run

Two measurements, each ours against a bare baseline, printed side by side:

1. The quote itself (`app.payments.quotes.make_quote`: rate-book lookup, staleness check, integer
   arithmetic, rounding up), timed per call, against the coin-priced path it replaces
   (`Amount.to_base_units`). Target: p99 under 1 ms.
2. `POST /api/v1/user/orders/{id}/payment` on the in-process app over SQLite, for EUR orders
   (quoted) and coin orders (not quoted), while the app's rate refresher polls a local Coinbase-
   shaped provider that takes 0.4 s to answer every request. The difference is what a quote costs a
   shopper; that it stays small shows requests never wait on the provider.

Exit status 0 when every answer was 201 and the quote p99 is under 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web
from litestar.testing import AsyncTestClient

from app.config import load_settings
from app.main import create_app
from app.migrate import upgrade_to_head
from app.orders.models import Order
from app.payments.quotes import make_quote
from app.rates.book import RateBook
from app.security.signatures import sign_body, sign_url

SECRET = "bench-merchant-secret"
WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PROVIDER_DELAY = 0.4


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


class SlowProvider:
    """A Coinbase-shaped provider taking PROVIDER_DELAY per answer, on its own loop and thread
    (the in-process test client blocks the caller's loop while a request runs)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _start(self) -> None:
        async def rates(request: web.Request) -> web.Response:
            await asyncio.sleep(PROVIDER_DELAY)
            coin = request.query.get("currency", "USDT")
            return web.json_response({"data": {"currency": coin, "rates": {"EUR": "0.9213"}}})

        app = web.Application()
        app.router.add_get("/v2/exchange-rates", rates)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    def start(self) -> str:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self.url

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def settings_for(database_url: str, provider_url: str) -> Any:
    return load_settings(
        None,
        admin={"secret": "bench-admin-secret"},
        merchant={"name": "Bench", "secret": SECRET, "allowed_origins": ["https://shop.example"]},
        wallets=[{"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT"]}],
        orders={"amount_step_max_tries": 100_000},
        security={"user_rate_limit_per_minute": 0},
        rates={
            "sources": ["coinbase"],
            "refresh_seconds": 1,
            "max_age_seconds": 30,
            "currencies": ["EUR"],
            "coinbase": {"url": provider_url, "timeout_seconds": 5},
        },
        database_url=database_url,
    )


def micro(book: RateBook, calls: int) -> dict[str, tuple[float, float, float]]:
    now = dt.datetime.now(dt.UTC)
    order = Order(amount_units=123_456, amount_scale=2, currency="EUR")
    coin_order = Order(amount_units=123_456, amount_scale=2, currency=None)
    ours: list[float] = []
    bare: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        start = clock()
        make_quote(order, "USDT", 6, book, now)
        ours.append((clock() - start) / 1000)
        start = clock()
        coin_order.amount.to_base_units(6)
        bare.append((clock() - start) / 1000)
    return {"quote (ours)": percentiles(ours), "coin amount (bare)": percentiles(bare)}


async def payments(client: AsyncTestClient[Any], count: int, currency: str | None) -> list[float]:
    timings: list[float] = []
    for index in range(count):
        body: dict[str, Any] = {
            "order_id": f"b-{uuid.uuid4().hex[:10]}",
            "amount": f"{10 + index}.{uuid.uuid4().int % 100:02d}",
            "webhook_url": "https://shop.example/hook",
        }
        if currency:
            body["currency"] = currency
        raw = json.dumps(body).encode()
        ts = int(time.time())
        created = await client.post(
            "/api/v1/service/orders",
            content=raw,
            headers={
                "Ocrch-Signature": sign_body(SECRET, raw, ts),
                "Content-Type": "application/json",
            },
        )
        assert created.status_code == 201, created.text
        order_id = created.json()["order_id"]
        url = f"https://shop.example/pay?order_id={order_id}"
        headers = {"Ocrch-Signed-Url": url, "Ocrch-Signature": sign_url(SECRET, url, ts)}
        start = time.perf_counter()
        answer = await client.post(
            f"/api/v1/user/orders/{order_id}/payment",
            json={"blockchain": "eth", "stablecoin": "USDT"},
            headers=headers,
        )
        timings.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 201, answer.text
        assert (answer.json().get("quote") is not None) == bool(currency)
    return timings


async def main(quick: bool) -> int:
    calls, count = (5_000, 40) if quick else (50_000, 300)
    provider = SlowProvider()
    provider_url = provider.start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-quotes-"))
    database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    await upgrade_to_head(database_url)
    settings = settings_for(database_url, provider_url)
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        book = app.state.services.rates
        deadline = time.monotonic() + 10
        while book.last_refresh is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert book.rate(book.market_pairs[0]).source == "coinbase", "no rate from the provider"
        print(f"rate provider answers in {PROVIDER_DELAY * 1000:.0f} ms; refresher every 1 s")
        print(f"\n1. one quote, {calls:,} calls (microseconds)")
        print(f"   {'':22} {'p50':>8} {'p99':>8} {'max':>8}")
        results = micro(book, calls)
        for name, (p50, p99, worst) in results.items():
            print(f"   {name:22} {p50:8.2f} {p99:8.2f} {worst:8.1f}")
        quote_p99 = results["quote (ours)"][1]
        await payments(client, 5, None)  # warm up both paths
        await payments(client, 5, "EUR")
        coin: list[float] = []
        eur: list[float] = []
        for index in range(count // 5):  # interleaved, each first half the time: no order bias
            first, second = (coin, eur) if index % 2 else (eur, coin)
            first += await payments(client, 5, None if first is coin else "EUR")
            second += await payments(client, 5, None if second is coin else "EUR")
        print(f"\n2. POST .../payment, {count} sequential each (milliseconds, SQLite, in-process)")
        print(f"   {'':22} {'p50':>8} {'p99':>8} {'max':>8}")
        for name, samples in (("EUR order (ours)", eur), ("coin order (bare)", coin)):
            p50, p99, worst = percentiles(samples)
            print(f"   {name:22} {p50:8.2f} {p99:8.2f} {worst:8.1f}")
        extra = statistics.median(eur) - statistics.median(coin)
        print(
            f"\n   a quote adds {extra:+.2f} ms at p50; "
            f"quote p99 {quote_p99:.1f} us (target < 1000)"
        )
    provider.stop()
    return 0 if quote_p99 < 1000 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))
