"""Solana JSON-RPC over HTTP with failover, per-request timeouts and backoff on throttling.

Several URLs in order of preference, through the failover every chain family shares
(`watchers.failover`): a connection error, a timeout, an HTTP error or a node error that says the
node cannot answer (behind, unhealthy) moves to the next URL; the URL that answered is tried first
from then on, and the first URL again `failback_after` seconds after a failover. HTTP 429 (every
hosted Solana RPC throttles) and 503 are retried on the same URL with exponential backoff and
jitter, honouring `Retry-After` (at most `max_backoff` seconds a wait, `throttle_retries` times)
before moving on. `SourceUnavailable` is raised only when every URL failed.

Errors the caller must see are raised as `RpcError` with the node's code: -32004 "block not
available", -32007 and -32009 "slot was skipped" are answers, not outages.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec

from watchers.base import SourceError, SourceUnavailable
from watchers.failover import THROTTLED, EndpointFailure, Rotation, Throttled, retry_throttled
from watchers.urls import redact

NODE_UNHEALTHY = frozenset({-32005, -32016})
"""Node is behind / min context slot not reached: another URL may answer."""


class RpcError(SourceError):
    """A JSON-RPC error answer (`code`, `message`) the caller decides about."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"error {code}: {message}")
        self.code = code
        self.message = message


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
        self._throttle_retries = throttle_retries
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        limits = httpx.Limits(max_connections=max_connections)
        self._clients = [
            httpx.AsyncClient(timeout=request_timeout, limits=limits) for _ in self.urls
        ]
        self._rotation = Rotation("solana", [redact(u) for u in self.urls], failback_after)
        self._ids = itertools.count(1)
        self.throttled = 0
        """How many 429/503 answers were backed off from (for tests and metrics)."""
        self._closed = False

    @property
    def active_url(self) -> str:
        return self.urls[self._rotation.active]

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """The `result` of one JSON-RPC call, from the first URL that answers it."""
        if self._closed:
            raise SourceUnavailable("solana: source is closed")
        body = msgspec.json.encode(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        )
        return await self._rotation.first_answer(
            method, lambda index: self._ask(index, body), answers=(RpcError,)
        )

    async def _ask(self, index: int, body: bytes) -> Any:
        """One call on one URL, retried there while it throttles."""
        return await retry_throttled(
            lambda: self._post(index, body),
            self._throttle_retries,
            self._first_backoff,
            self._max_backoff,
        )

    async def _post(self, index: int, body: bytes) -> Any:
        """One request to one URL: its `result`, an `RpcError`, or an `EndpointFailure`."""
        try:
            response = await self._clients[index].post(
                self.urls[index], content=body, headers={"content-type": "application/json"}
            )
        except httpx.TimeoutException:
            raise EndpointFailure(
                f"no answer within {self.request_timeout} s", timed_out=True
            ) from None
        except httpx.HTTPError as exc:
            raise EndpointFailure(f"{type(exc).__name__}: {exc}") from None
        if response.status_code in THROTTLED:
            self.throttled += 1
            raise Throttled(
                f"HTTP {response.status_code}",
                response.headers.get("retry-after"),
            )
        if response.status_code != 200:
            raise EndpointFailure(f"HTTP {response.status_code}")
        try:
            answer = msgspec.json.decode(response.content)
        except msgspec.DecodeError as exc:
            raise EndpointFailure(f"not JSON: {exc}") from None
        if not isinstance(answer, dict):
            raise EndpointFailure("not a JSON-RPC answer")
        error = answer.get("error")
        if isinstance(error, dict):
            code, message = int(error.get("code", 0)), str(error.get("message", ""))
            if code in NODE_UNHEALTHY:
                raise EndpointFailure(f"error {code}: {message}")
            raise RpcError(code, message)
        if "result" not in answer:
            raise EndpointFailure("JSON-RPC answer without result")
        return answer["result"]

    async def close(self) -> None:
        self._closed = True
        for client in self._clients:
            await client.aclose()


__all__ = ["RpcError", "SolanaRpc"]
