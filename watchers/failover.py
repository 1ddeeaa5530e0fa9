"""Several node URLs for one chain, in order of preference: which to try first, and when to go
back to the first one. Shared by every chain family's source (EVM JSON-RPC, the TRON HTTP API),
so failover and fail-back behave the same whichever chain a shop watches.

The source tries URLs in `order()`; the first that answers is `mark_working`, which logs a
change of node. After a failover the preferred URL (the first configured) is tried again once
`failback_after` seconds have passed, so a recovered primary is used again without a restart.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence

log = logging.getLogger("watchers.failover")


class Rotation:
    def __init__(self, blockchain: str, labels: Sequence[str], failback_after: float) -> None:
        self._blockchain = blockchain
        self._labels = list(labels)
        self._failback_after = failback_after
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


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds before retry `attempt + 1`: the server's `Retry-After` when it gave one, else
    doubling from `base` with jitter (0.5 to 1.5 times); never negative, never above `cap`."""
    delay = retry_after if retry_after is not None else base * 2**attempt * (0.5 + random.random())
    return min(max(delay, 0.0), cap)
