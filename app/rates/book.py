"""The rate book: the latest rate of every configured pair, kept fresh by a background refresher.

Requests only read this in-memory book (a dict lookup), so a provider that stalls can never hold
up a checkout: the refresher asks the sources in their configured order with a timeout each, and
a quote takes the first source whose answer is younger than `max_age_seconds`. A manual rate in
`[rates.fixed]` beats every source; with `usd_peg`, a USD stablecoin is 1 USD. No fresh rate:
`NoFreshRate`, which the API answers with 503, never a silently stale quote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from app.config import RatesSettings, Settings
from app.rates.sources import FETCHERS, Pair, SourceError

log = logging.getLogger("app.rates")

USD_PEGGED_COINS = frozenset({"USDT", "USDC", "DAI"})
FIXED = "fixed"
USD_PEG = "usd_peg"


@dataclass(frozen=True, slots=True)
class Rate:
    """Fiat per one coin, where it came from and when: what a quote stores for the auditor."""

    pair: Pair
    value: Decimal
    source: str
    fetched_at: float
    """Unix seconds: the provider's answer, the config load (fixed) or the quote time (peg)."""


class NoFreshRate(Exception):
    def __init__(self, pair: Pair) -> None:
        super().__init__(f"no fresh rate for {pair}")
        self.pair = pair


class RateBook:
    """Per pair and source, the last answer; read by quotes, written by `refresh_once`."""

    def __init__(
        self,
        config: RatesSettings,
        coins: Iterable[str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        loaded = clock()
        self.fixed = {
            Pair.parse(key): Rate(Pair.parse(key), value, FIXED, loaded)
            for key, value in config.fixed.items()
        }
        self.pairs = sorted({Pair(coin, fiat) for coin in coins for fiat in config.fiat_currencies})
        """Every pair a shopper could ask for: each enabled coin in each priced currency."""
        self.market_pairs = [p for p in self.pairs if p not in self.fixed and not self._pegged(p)]
        """The pairs only a source can answer: what the refresher asks for."""
        self._answers: dict[tuple[Pair, str], Rate] = {}
        self.last_errors: dict[str, str] = {}
        self.last_refresh: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RateBook | None:
        if settings.rates is None:
            return None
        coins = {str(coin) for wallet in settings.wallets for coin in wallet.enabled_coins}
        return cls(settings.rates, coins)

    def _pegged(self, pair: Pair) -> bool:
        return self.config.usd_peg and pair.fiat == "USD" and pair.coin in USD_PEGGED_COINS

    # -- reading (requests)

    def rate(self, pair: Pair) -> Rate:
        """The rate a quote may use now, or NoFreshRate. Never waits, never touches the network."""
        fixed = self.fixed.get(pair)
        if fixed is not None:
            return fixed
        now = self.clock()
        if self._pegged(pair):
            return Rate(pair, Decimal(1), USD_PEG, now)
        oldest = now - self.config.max_age_seconds
        for source in self.config.sources:
            answer = self._answers.get((pair, source))
            if answer is not None and answer.fetched_at >= oldest:
                return answer
        raise NoFreshRate(pair)

    def supports(self, fiat: str) -> bool:
        return fiat in self.config.fiat_currencies

    def status(self) -> dict[str, dict[str, Any]]:
        """Per configured pair: its rate, source and age, or why there is none (for /health)."""
        now = self.clock()
        report: dict[str, dict[str, Any]] = {}
        for pair in self.pairs:
            try:
                rate = self.rate(pair)
            except NoFreshRate:
                report[str(pair)] = {"status": "stale", "age_seconds": self.age(pair)}
                continue
            report[str(pair)] = {
                "status": "ok",
                "rate": format(rate.value, "f"),
                "source": rate.source,
                "age_seconds": round(now - rate.fetched_at, 1),
            }
        return report

    def age(self, pair: Pair) -> float | None:
        """Seconds since the newest answer any source gave for `pair` (0 for fixed and pegged)."""
        if pair in self.fixed or self._pegged(pair):
            return 0.0
        times = [a.fetched_at for (p, _), a in self._answers.items() if p == pair]
        return round(self.clock() - max(times), 1) if times else None

    @property
    def degraded(self) -> bool:
        return any(item["status"] != "ok" for item in self.status().values())

    # -- writing (the refresher)

    def record(self, source: str, rates: dict[Pair, Decimal], fetched_at: float) -> None:
        for pair, value in rates.items():
            self._answers[(pair, source)] = Rate(pair, value, source, fetched_at)

    async def refresh_once(self, client: httpx.AsyncClient) -> None:
        """Ask the sources in order for the pairs still unanswered; a failing or stalling source
        is logged and skipped, and the pairs it could not answer go to the next one."""
        missing = list(self.market_pairs)
        for name in self.config.sources:
            if not missing:
                break
            source = getattr(self.config, name)
            try:
                found = await asyncio.wait_for(
                    FETCHERS[name](client, source.url.rstrip("/"), missing),
                    timeout=source.timeout_seconds,
                )
            except TimeoutError:
                self._failed(name, f"no answer within {source.timeout_seconds:g} s")
                continue
            except SourceError as exc:
                self._failed(name, str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a source bug must not stop the others
                self._failed(name, f"{type(exc).__name__}: {exc}")
                continue
            self.record(name, found, self.clock())
            self.last_errors.pop(name, None)
            missing = [pair for pair in missing if pair not in found]
        if missing:
            log.warning("rates.unanswered pairs=%s", ",".join(str(p) for p in missing))
        self.last_refresh = self.clock()

    def _failed(self, name: str, reason: str) -> None:
        self.last_errors[name] = reason
        log.warning("rates.source_failed source=%s reason=%s", name, reason)

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh every `refresh_seconds` until `stop`; runs in every process that quotes."""
        timeout = max(getattr(self.config, n).timeout_seconds for n in self.config.sources)
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), headers={"User-Agent": "stablecheckout-rates"}
        ) as client:
            while not stop.is_set():
                try:
                    await self.refresh_once(client)
                except Exception:
                    log.exception("rates.refresh_failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.refresh_seconds)

    @property
    def needs_refresher(self) -> bool:
        return bool(self.config.sources and self.market_pairs)
