"""A push subscription that wakes the runner the moment a node announces something, for the
sources whose nodes can push (EVM `newHeads`, Solana `logsSubscribe`/`signatureSubscribe`).

Why a shared piece: what keeps a subscription alive is the same whatever is subscribed to. One
background task holds one stream open, moving to the next WebSocket URL whenever a stream fails or
ends (waiting 0.5 s, doubling up to 10 s, back to 0.5 s once a stream is live). `wait()` is the
source's `wait_for_new_head`: it returns the moment the stream wakes it, and while no stream is
live (or without a WebSocket URL) it sleeps the poll interval, so the runner polls instead of
hanging. A stream that goes down wakes the runner once, so it starts polling at once.

What a stream is, is the source's: `stream(url)` connects, subscribes, calls `live(url)` once the
subscriptions are up and `wake()` for every notification that may mean new work, and returns
when the stream ends (raising when it fails); `lost()` before a slow close of its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from watchers.urls import redact

log = logging.getLogger("watchers.push")

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 10.0


class Push:
    def __init__(
        self,
        name: str,
        urls: Sequence[str],
        stream: Callable[[str], Awaitable[None]],
        *,
        enabled: bool = True,
    ) -> None:
        """name: for logs and the task (`eth: newHeads`). urls: the ws(s):// URLs, in order of
        preference; none (or `enabled` False) means the source polls."""
        self._name = name
        self._urls = list(urls)
        self._stream = stream
        self.enabled = enabled and bool(self._urls)
        self._event = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._backoff = FIRST_BACKOFF
        self._closed = False

    @property
    def subscribed(self) -> bool:
        """Whether a stream is live right now."""
        return self._subscribed.is_set()

    async def wait(self, timeout: float, poll_interval: float) -> None:
        """Return when woken, or after `timeout` (after `poll_interval` while no stream is live)."""
        if not self.enabled or self._closed:
            await asyncio.sleep(max(0.0, min(poll_interval, timeout)))
            return
        self._ensure_task()
        wait = timeout if self._subscribed.is_set() else min(timeout, poll_interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), max(0.0, wait))
        self._event.clear()

    async def start(self, timeout: float) -> bool:
        """Open the stream now (instead of on the first wait) and wait until it is live. False
        without a WebSocket URL, once closed, or if it is not live within `timeout`."""
        if not self.enabled or self._closed:
            return False
        self._ensure_task()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        return self._subscribed.is_set()

    def restart(self) -> None:
        """Drop the stream; the next wait or start opens another (to subscribe to other things)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def live(self, url: str) -> None:
        """For the stream: its subscriptions are up."""
        self._subscribed.set()
        self._backoff = FIRST_BACKOFF
        log.info("%s subscription live on %s", self._name, redact(url))

    def lost(self) -> None:
        """For the stream (and the loop after it): it is down; wake the runner, which polls until
        a stream is live again. A stream that still has to close its connection calls it first,
        so the runner does not wait for the close."""
        if self._subscribed.is_set():
            self._subscribed.clear()
            self._event.set()

    def wake(self) -> None:
        """For the stream: something was announced; the runner should look."""
        self._event.set()

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._keep_streaming(), name=self._name)

    async def _keep_streaming(self) -> None:
        index = 0
        while not self._closed:
            url = self._urls[index % len(self._urls)]
            try:
                await self._stream(url)
                log.info("%s stream ended on %s", self._name, redact(url))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect on any failure of the stream
                log.info(
                    "%s on %s failed: %s: %s", self._name, redact(url), type(exc).__name__, exc
                )
            finally:
                self.lost()
            index += 1
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF)


__all__ = ["Push"]
