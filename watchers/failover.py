"""Several node URLs for one chain, in order of preference: which to try first, when to go back to
the first one, and when to give up. Shared by every chain family's source (EVM JSON-RPC, the TRON
HTTP API, Solana JSON-RPC), so failover, fail-back and throttling behave the same whichever chain
a shop watches, and each source writes only how it asks one URL.

`Rotation.first_answer` tries the URLs in `Rotation.order()`; an attempt on one URL either answers,
raises `EndpointFailure` (that URL could not answer usefully: the next one is tried), or raises
something else (passed on untouched; the types in `answers` first mark the URL as working, since
an error answer still proves the node is alive). The URL that answered is tried first from then
on; after a failover the preferred URL (the first configured) is tried again once `failback_after`
seconds have passed, so a recovered primary is used again without a restart. When every URL
failed, `SourceUnavailable` (`AllTimedOut` when every one of them timed out) names each failure.

`retry_throttled` retries one URL while it answers "slow down" (HTTP 429/503), with the backoff of
`backoff_delay`, before the failure counts against the URL.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from watchers.base import SourceError, SourceUnavailable

log = logging.getLogger("watchers.failover")

T = TypeVar("T")

THROTTLED = frozenset({429, 503})
"""HTTP statuses by which a node says "slow down": retried on the same URL after a backoff."""


class EndpointFailure(SourceError):
    """One URL could not answer usefully (the next one may). The message says why, without the URL:
    `Rotation.first_answer` names it. `timed_out`: it gave no answer in time."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Throttled(EndpointFailure):
    """The URL answered 429/503 (`THROTTLED`). Made with the answer's `Retry-After` header;
    `retry_after` is it in seconds, None when it gave none that is a number."""

    def __init__(self, message: str, retry_after_header: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after_seconds(retry_after_header)


class AllTimedOut(SourceUnavailable):
    """Every URL timed out (as opposed to refusing connections or erroring): maybe dead nodes,
    maybe a query too heavy to answer in time."""


class Rotation:
    def __init__(
        self,
        blockchain: str,
        labels: Sequence[str],
        failback_after: float,
        *,
        urls_are_called: str = "RPC URL",
    ) -> None:
        """labels: the URLs as logs may show them (see `watchers.urls.redact`), in order of
        preference. urls_are_called: the operator's word for them, in "failed on every …"."""
        self._blockchain = blockchain
        self._labels = list(labels)
        self._failback_after = failback_after
        self._urls_are_called = urls_are_called
        self.active = 0
        self._failed_over_at = 0.0

    def order(self) -> list[int]:
        """Indexes to try, starting with the active URL (or the preferred one, when it is time
        to fail back)."""
        first = self.active
        if self.active != 0 and time.monotonic() - self._failed_over_at >= self._failback_after:
            first = 0
        count = len(self._labels)
        return [(first + step) % count for step in range(count)]

    def mark_working(self, index: int) -> None:
        if index != self.active:
            log.warning(
                "%s: node now %s (was %s)",
                self._blockchain,
                self._labels[index],
                self._labels[self.active],
            )
            self.active = index
        if index != 0:
            self._failed_over_at = time.monotonic()

    async def first_answer(
        self,
        what: str,
        attempt: Callable[[int], Awaitable[T]],
        *,
        answers: tuple[type[Exception], ...] = (),
    ) -> T:
        """The result of `attempt(index)` from the first URL, in `order()`, that answers.

        `what` names the request in logs and in the error. Exceptions of the `answers` types mark
        the URL working and are raised on; any other exception but `EndpointFailure` is raised on
        as it is.
        """
        failures: list[EndpointFailure] = []
        reasons: list[str] = []
        for index in self.order():
            try:
                result = await attempt(index)
            except answers:
                self.mark_working(index)
                raise
            except EndpointFailure as exc:
                failures.append(exc)
                reasons.append(f"{self._labels[index]}: {exc}")
                log.info("%s: %s failed on %s", self._blockchain, what, reasons[-1])
                continue
            self.mark_working(index)
            return result
        timed_out = bool(failures) and all(f.timed_out for f in failures)
        error = AllTimedOut if timed_out else SourceUnavailable
        raise error(
            f"{self._blockchain}: {what} failed on every {self._urls_are_called}: "
            + "; ".join(reasons)
        )


async def retry_throttled(
    request: Callable[[], Awaitable[T]], retries: int, base: float, cap: float
) -> T:
    """`request()` on one URL, retried up to `retries` times while it raises `Throttled`, waiting
    `backoff_delay` between tries; the last `Throttled` is raised on (the next URL's turn)."""
    for attempt in range(retries + 1):
        try:
            return await request()
        except Throttled as exc:
            if attempt >= retries:
                raise
            await asyncio.sleep(backoff_delay(attempt, base, cap, exc.retry_after))
    raise AssertionError("unreachable")


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds before retry `attempt + 1`: the server's `Retry-After` when it gave one, else
    doubling from `base` with jitter (0.5 to 1.5 times); never negative, never above `cap`."""
    delay = retry_after if retry_after is not None else base * 2**attempt * (0.5 + random.random())
    return min(max(delay, 0.0), cap)


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header in seconds; None when absent or not a number (an HTTP date is
    rare from nodes and falls back to the computed backoff)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


__all__ = [
    "THROTTLED",
    "AllTimedOut",
    "EndpointFailure",
    "Rotation",
    "Throttled",
    "backoff_delay",
    "retry_after_seconds",
    "retry_throttled",
]
