"""An in-process nudge: the outbox got a row, so a sender in this process should look now.

Senders in other processes find the row on their next short poll; this only removes the wait
when writer and sender share a process (`serve`, `dev`).
"""

from __future__ import annotations

from collections.abc import Callable

_listeners: set[Callable[[], None]] = set()


def subscribe(listener: Callable[[], None]) -> None:
    _listeners.add(listener)


def unsubscribe(listener: Callable[[], None]) -> None:
    _listeners.discard(listener)


async def outbox_written() -> None:
    for listener in list(_listeners):
        listener()
