"""Order changes queued inside a transaction and published only after it commits.

Services call `order_changed`; the unit of work hands the queue to the publisher once the
commit has succeeded, so a push never announces something the database does not hold.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class Publisher(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...


def order_channel(order_id: uuid.UUID | str) -> str:
    return f"order:{order_id}"


def order_changed(session: AsyncSession, order_id: uuid.UUID, message: dict[str, Any]) -> None:
    session.info.setdefault("publish", []).append((order_channel(order_id), message))


async def publish_queued(session: AsyncSession, publisher: Publisher | None) -> None:
    queued: list[tuple[str, dict[str, Any]]] = session.info.pop("publish", [])
    if publisher is None:
        return
    for channel, message in queued:
        await publisher.publish(channel, message)
