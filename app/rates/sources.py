"""Exchange-rate sources, each against its provider's documented public REST JSON.

Every source answers "how much fiat is one coin" for the pairs it can, as Decimals parsed from the
provider's decimal strings (never floats). A source that errs, rate-limits, answers garbage or
stalls raises `SourceError`; the refresher (`app.rates.book`) then asks the next one.

- Coinbase `GET /v2/exchange-rates?currency=USDT` → `{"data": {"currency": "USDT",
  "rates": {"EUR": "0.92", …}}}`; errors `{"errors": [{"id", "message"}]}`.
- Kraken `GET /0/public/Ticker?pair=USDTEUR` → `{"error": [], "result": {"USDTEUR": {"c":
  ["0.92000", "10.0"], …}}}`; the result is keyed by Kraken's own pair name (USDTUSD comes back
  as USDTZUSD), so the single entry is taken; `c[0]` is the last trade price.
- Binance `GET /api/v3/ticker/price` → `[{"symbol": "EURUSDT", "price": "1.08700000"}, …]`; one
  call prices every pair, directly (`USDTTRY`) or inverted (`EURUSDT` → 1 / price); errors
  `{"code": -1121, "msg": "Invalid symbol."}`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any, NamedTuple

import httpx

RATE_PRECISION = 28
"""Significant digits kept when a source's price must be inverted (Binance's EURUSDT)."""


class Pair(NamedTuple):
    coin: str
    fiat: str

    def __str__(self) -> str:
        return f"{self.coin}/{self.fiat}"

    @classmethod
    def parse(cls, text: str) -> Pair:
        coin, sep, fiat = text.partition("/")
        if not sep or not coin or not fiat:
            raise ValueError(f"{text!r} is not a pair (COIN/FIAT, e.g. USDT/EUR)")
        return cls(coin.strip().upper(), fiat.strip().upper())


class SourceError(Exception):
    """A provider answer that cannot be used; the message says why (for logs and /health)."""


def positive_decimal(value: Any, where: str) -> Decimal:
    """A provider's price: a decimal string (or exact JSON number) > 0, else SourceError."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise SourceError(f"{where}: price is not a decimal string: {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise SourceError(f"{where}: price is not a decimal: {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise SourceError(f"{where}: price is not a positive number: {value!r}")
    return number


def load_json(body: bytes, where: str) -> Any:
    try:
        return json.loads(body, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise SourceError(f"{where}: answer is not JSON") from None


def invert(price: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = RATE_PRECISION
        return (Decimal(1) / price).normalize()


# -- parsers: pure functions of the provider's body, tested against recorded shapes


def parse_coinbase(body: bytes, coin: str, fiats: Iterable[str]) -> dict[Pair, Decimal]:
    data = load_json(body, "coinbase")
    if not isinstance(data, dict):
        raise SourceError("coinbase: answer is not an object")
    if data.get("errors"):
        raise SourceError(f"coinbase: {_coinbase_error(data['errors'])}")
    inner = data.get("data")
    if not isinstance(inner, dict) or not isinstance(inner.get("rates"), dict):
        raise SourceError("coinbase: no data.rates in the answer")
    rates = inner["rates"]
    if str(inner.get("currency", "")).upper() != coin:
        raise SourceError(f"coinbase: answered for {inner.get('currency')!r}, not {coin}")
    return {
        Pair(coin, fiat): positive_decimal(rates[fiat], f"coinbase {coin}/{fiat}")
        for fiat in fiats
        if fiat in rates
    }


def _coinbase_error(errors: Any) -> str:
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0].get("id") or "error")
    return "error"


def parse_kraken(body: bytes, pair: Pair) -> Decimal:
    data = load_json(body, "kraken")
    if not isinstance(data, dict) or not isinstance(data.get("error"), list):
        raise SourceError("kraken: answer has no error list")
    if data["error"]:
        raise SourceError(f"kraken {pair}: {'; '.join(str(e) for e in data['error'])}")
    result = data.get("result")
    if not isinstance(result, dict) or len(result) != 1:
        raise SourceError(f"kraken {pair}: expected one ticker in result")
    (ticker,) = result.values()
    last = ticker.get("c") if isinstance(ticker, dict) else None
    if not isinstance(last, list) or not last:
        raise SourceError(f"kraken {pair}: ticker has no last trade (c)")
    return positive_decimal(last[0], f"kraken {pair}")


def parse_binance(body: bytes, pairs: Iterable[Pair]) -> dict[Pair, Decimal]:
    data = load_json(body, "binance")
    if isinstance(data, dict) and "code" in data:
        raise SourceError(f"binance: {data.get('code')} {data.get('msg')}")
    if not isinstance(data, list):
        raise SourceError("binance: answer is not a list of tickers")
    prices = {str(item.get("symbol")): item.get("price") for item in data if isinstance(item, dict)}
    found: dict[Pair, Decimal] = {}
    for pair in pairs:
        direct, inverse = f"{pair.coin}{pair.fiat}", f"{pair.fiat}{pair.coin}"
        if direct in prices:
            found[pair] = positive_decimal(prices[direct], f"binance {direct}")
        elif inverse in prices:
            found[pair] = invert(positive_decimal(prices[inverse], f"binance {inverse}"))
    return found


# -- fetchers


async def _get(client: httpx.AsyncClient, url: str, params: dict[str, str] | None) -> bytes:
    try:
        response = await client.get(url, params=params)
    except httpx.HTTPError as exc:
        raise SourceError(f"{url}: {type(exc).__name__}") from None
    if response.status_code == 429:
        raise SourceError(f"{url}: HTTP 429 (rate limited)")
    if response.status_code != 200:
        # Kraken and Binance put their reason in a JSON body even on errors; keep it short.
        raise SourceError(f"{url}: HTTP {response.status_code} {response.text[:120]!r}")
    return response.content


async def fetch_coinbase(
    client: httpx.AsyncClient, base_url: str, pairs: list[Pair]
) -> dict[Pair, Decimal]:
    by_coin: dict[str, list[str]] = {}
    for pair in pairs:
        by_coin.setdefault(pair.coin, []).append(pair.fiat)

    async def one(coin: str, fiats: list[str]) -> dict[Pair, Decimal]:
        body = await _get(client, f"{base_url}/v2/exchange-rates", {"currency": coin})
        return parse_coinbase(body, coin, fiats)

    found: dict[Pair, Decimal] = {}
    for part in await asyncio.gather(*(one(c, f) for c, f in by_coin.items())):
        found.update(part)
    return found


async def fetch_kraken(
    client: httpx.AsyncClient, base_url: str, pairs: list[Pair]
) -> dict[Pair, Decimal]:
    """One request per pair: an unknown pair fails Kraken's whole multi-pair request."""

    async def one(pair: Pair) -> tuple[Pair, Decimal | None]:
        try:
            body = await _get(
                client, f"{base_url}/0/public/Ticker", {"pair": f"{pair.coin}{pair.fiat}"}
            )
            return pair, parse_kraken(body, pair)
        except SourceError:
            if len(pairs) == 1:
                raise
            return pair, None

    answers = await asyncio.gather(*(one(p) for p in pairs))
    found = {pair: rate for pair, rate in answers if rate is not None}
    if pairs and not found:
        raise SourceError("kraken: no pair answered")
    return found


async def fetch_binance(
    client: httpx.AsyncClient, base_url: str, pairs: list[Pair]
) -> dict[Pair, Decimal]:
    return parse_binance(await _get(client, f"{base_url}/api/v3/ticker/price", None), pairs)


Fetcher = Callable[[httpx.AsyncClient, str, list[Pair]], Awaitable[dict[Pair, Decimal]]]

FETCHERS: dict[str, Fetcher] = {
    "coinbase": fetch_coinbase,
    "kraken": fetch_kraken,
    "binance": fetch_binance,
}
DEFAULT_URLS: dict[str, str] = {
    "coinbase": "https://api.coinbase.com",
    "kraken": "https://api.kraken.com",
    "binance": "https://api.binance.com",
}
