"""Solana JSON-RPC over HTTP with failover, per-request timeouts and backoff on throttling.

Several URLs in order of preference: a connection error, a timeout, an HTTP error or a node error
that says the node cannot answer (behind, unhealthy) moves to the next URL; the URL that answered
is tried first from then on, and the first URL again `failback_after` seconds after a failover.
HTTP 429 (every hosted Solana RPC throttles) and 503 are retried on the same URL with exponential
backoff, honouring `Retry-After` (at most `max_backoff` seconds a wait, `throttle_retries` times)
before moving on. `SourceUnavailable` is raised only when every URL failed.

Errors the caller must see are raised as `RpcError` with the node's code: -32004 "block not
available", -32007 and -32009 "slot was skipped" are answers, not outages.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec

from watchers.base import SourceError, SourceUnavailable

log = logging.getLogger("stablecheckout.watchers.solana")

THROTTLED = frozenset({429, 503})
NODE_UNHEALTHY = frozenset({-32005, -32016})
"""Node is behind / min context slot not reached: another URL may answer."""


class RpcError(SourceError):
    """A JSON-RPC error answer (`code`, `message`) the caller decides about."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"error {code}: {message}")
        self.code = code
        self.message = message


class _Failed(Exception):
    pass


def redact(url: str) -> str:
    """A URL fit for logs: hosted nodes put API keys in the path or query."""
    match = re.match(r"^([a-z]+://[^/?#]+)", url, re.IGNORECASE)
    host = match.group(1) if match else url
    return host + ("/…" if len(url) > len(host) else "")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class SolanaRpc:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        request_timeout: float = 10.0,
        failback_after: float = 300.0,
        throttle_retries: int = 3,
        first_backoff: float = 0.25,
        max_backoff: float = 10.0,
        max_connections: int = 32,
    ) -> None:
        if not urls:
            raise ValueError("solana: at least one http(s) RPC URL is required")
        self.urls = list(urls)
        self.request_timeout = request_timeout
        self._failback_after = failback_after
        self._throttle_retries = throttle_retries
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        limits = httpx.Limits(max_connections=max_connections)
        self._clients = [
            httpx.AsyncClient(timeout=request_timeout, limits=limits) for _ in self.urls
        ]
        self._active = 0
        self._failed_over_at = 0.0
        self._ids = itertools.count(1)
        self.throttled = 0
        """How many 429/503 answers were backed off from (for tests and metrics)."""
        self._closed = False

    @property
    def active_url(self) -> str:
        return self.urls[self._active]

    def _first(self) -> int:
        if self._active and time.monotonic() - self._failed_over_at >= self._failback_after:
            return 0
        return self._active

    def _mark_working(self, index: int) -> None:
        if index != self._active:
            log.warning(
                "solana: RPC now via %s (was %s)",
                redact(self.urls[index]),
                redact(self.urls[self._active]),
            )
            self._active = index
        if index:
            self._failed_over_at = time.monotonic()

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """The `result` of one JSON-RPC call, from the first URL that answers it."""
        if self._closed:
            raise SourceUnavailable("solana: source is closed")
        failures: list[str] = []
        first = self._first()
        for step in range(len(self.urls)):
            index = (first + step) % len(self.urls)
            try:
                result = await self._call_one(index, method, params)
            except RpcError as exc:
                if exc.code in NODE_UNHEALTHY:
                    failures.append(f"{redact(self.urls[index])}: {exc}")
                    continue
                self._mark_working(index)
                raise
            except _Failed as exc:
                failures.append(f"{redact(self.urls[index])}: {exc}")
                log.info("solana: %s failed on %s", method, failures[-1])
                continue
            self._mark_working(index)
            return result
        raise SourceUnavailable(f"solana: {method} failed on every RPC URL: " + "; ".join(failures))

    async def _call_one(self, index: int, method: str, params: Sequence[Any]) -> Any:
        body = msgspec.json.encode(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        )
        backoff = self._first_backoff
        for attempt in range(self._throttle_retries + 1):
            try:
                response = await self._clients[index].post(
                    self.urls[index], content=body, headers={"content-type": "application/json"}
                )
            except httpx.TimeoutException:
                raise _Failed(f"no answer within {self.request_timeout} s") from None
            except httpx.HTTPError as exc:
                raise _Failed(f"{type(exc).__name__}: {exc}") from None
            if response.status_code in THROTTLED:
                self.throttled += 1
                if attempt == self._throttle_retries:
                    raise _Failed(f"HTTP {response.status_code} after {attempt} retries")
                wait = _retry_after(response)
                await asyncio.sleep(min(self._max_backoff, wait if wait is not None else backoff))
                backoff = min(self._max_backoff, backoff * 2)
                continue
            if response.status_code != 200:
                raise _Failed(f"HTTP {response.status_code}")
            try:
                answer = msgspec.json.decode(response.content)
            except msgspec.DecodeError as exc:
                raise _Failed(f"not JSON: {exc}") from None
            if not isinstance(answer, dict):
                raise _Failed("not a JSON-RPC answer")
            error = answer.get("error")
            if isinstance(error, dict):
                raise RpcError(int(error.get("code", 0)), str(error.get("message", "")))
            if "result" not in answer:
                raise _Failed("JSON-RPC answer without result")
            return answer["result"]
        raise _Failed("unreachable")  # pragma: no cover

    async def close(self) -> None:
        self._closed = True
        for client in self._clients:
            await client.aclose()


__all__ = ["RpcError", "SolanaRpc", "redact"]
