"""Domain events: how one domain reacts to another without importing it.

A domain that changes state records a typed event (`record`) inside the transaction that made the
change; every subscriber of that event type runs at once, in the same transaction, and writes its
own consequence (an outbox row, a checkout session's move, a queued page push). So a consequence
commits or rolls back with the change it follows, and a crash at any line leaves neither or both.

Who subscribes to what is written in one place, `app.subscriptions`, loaded before the first event
is recorded; the emitting domain never learns who listens. Subscribers receive a batch (all the
events of one type recorded by one call), so a job that settles 500 payments runs each subscriber
once, with a constant number of statements.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Base of every event; subclasses are frozen dataclasses named for what happened."""


E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[AsyncSession, Sequence[Any]], Awaitable[None]]

_handlers: list[tuple[type[DomainEvent], Handler]] = []
_loaded = False


def subscribe(
    event_type: type[E], handler: Callable[[AsyncSession, Sequence[E]], Awaitable[None]]
) -> None:
    """Run `handler` for every recorded event of `event_type` (or a subclass), in order of
    subscription. Called by `app.subscriptions` only."""
    _handlers.append((event_type, handler))


def _load_subscriptions() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        importlib.import_module("app.subscriptions")


async def record(session: AsyncSession, events: Sequence[DomainEvent]) -> None:
    """Hand `events` to their subscribers inside the caller's transaction."""
    if not events:
        return
    _load_subscriptions()
    types = {type(e) for e in events}
    for event_type, handler in list(_handlers):
        wanted = {t for t in types if issubclass(t, event_type)}
        if not wanted:
            continue
        # A batch is mostly of one type: test each type once, not each event per handler.
        matching = events if wanted == types else [e for e in events if type(e) in wanted]
        await handler(session, matching)
