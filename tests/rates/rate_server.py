"""A local rate provider for tests: Coinbase, Kraken and Binance paths answering the recorded
JSON shapes of `tests/fixtures/rates/`, with per-provider failure modes.

Modes: `ok` (the recorded shape with the prices set in `rates`), `error` (the provider's error
body and status), `429` (rate limited), `garbage` (200 with an HTML page), `stall` (accepts the
request and never answers). It runs on its own event loop in a thread, so a `serve` subprocess and
in-process tests can both reach it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rates"
PROVIDERS = ("coinbase", "kraken", "binance")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Provider:
    mode: str = "ok"
    rates: dict[str, str] = field(default_factory=dict)
    """Coinbase and Kraken: "USDT/EUR" -> "0.92". Binance: symbol -> price ("EURUSDT")."""
    hits: int = 0


class RateServer:
    def __init__(self) -> None:
        self.providers = {name: Provider() for name in PROVIDERS}
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._stalled: set[asyncio.Future[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __getitem__(self, name: str) -> Provider:
        return self.providers[name]

    def start(self) -> RateServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/v2/exchange-rates", self._coinbase)
        app.router.add_get("/0/public/Ticker", self._kraken)
        app.router.add_get("/api/v3/ticker/price", self._binance)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        for waiter in self._stalled:
            waiter.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _failure(self, provider: Provider, error: tuple[int, Any]) -> web.Response | None:
        provider.hits += 1
        if provider.mode == "stall":
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._stalled.add(waiter)
            try:
                await waiter
            finally:
                self._stalled.discard(waiter)
        if provider.mode == "429":
            return web.json_response({"code": -1003, "msg": "Too many requests."}, status=429)
        if provider.mode == "garbage":
            return web.Response(text="<html><body>502 Bad Gateway</body></html>", status=200)
        if provider.mode == "error":
            return web.json_response(error[1], status=error[0])
        return None

    async def _coinbase(self, request: web.Request) -> web.Response:
        provider = self["coinbase"]
        failed = await self._failure(provider, (400, fixture("coinbase_error.json")))
        if failed is not None:
            return failed
        coin = request.query.get("currency", "USD").upper()
        if coin not in ("USDT", "USDC", "DAI"):
            return web.json_response(fixture("coinbase_error.json"), status=400)
        body = fixture("coinbase_exchange_rates.json")
        body["data"]["currency"] = coin
        for key, value in provider.rates.items():
            pair_coin, fiat = key.split("/")
            if pair_coin == coin:
                body["data"]["rates"][fiat] = value
        return web.json_response(body)

    async def _kraken(self, request: web.Request) -> web.Response:
        provider = self["kraken"]
        failed = await self._failure(provider, (200, fixture("kraken_error.json")))
        if failed is not None:
            return failed
        wanted = request.query.get("pair", "")
        template = fixture("kraken_ticker.json")
        for key, value in provider.rates.items():
            coin, fiat = key.split("/")
            if coin + fiat == wanted:
                ticker = copy.deepcopy(template["result"]["USDTEUR"])
                ticker["c"][0] = value
                name = f"{coin}Z{fiat}" if fiat == "USD" else wanted  # Kraken renames USD pairs
                return web.json_response({"error": [], "result": {name: ticker}})
        return web.json_response(fixture("kraken_error.json"))

    async def _binance(self, request: web.Request) -> web.Response:
        provider = self["binance"]
        failed = await self._failure(provider, (400, fixture("binance_error.json")))
        if failed is not None:
            return failed
        tickers = {t["symbol"]: t["price"] for t in fixture("binance_ticker_price.json")}
        tickers.update(provider.rates)
        return web.json_response([{"symbol": s, "price": p} for s, p in tickers.items()])
