"""`Idempotency-Key` for create requests (Service API orders, Checkout Sessions).

The key row is inserted before the object inside a savepoint: a concurrent request with the same
key blocks on the primary key until the first commits, then replays its stored response. The same
key with another body is a 409; keys are kept 24 hours.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import IdempotencyKeyInFlight, IdempotencyKeyInvalid, IdempotencyKeyReused
from app.orders.models import IdempotencyKey

IDEMPOTENCY_TTL = dt.timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes
    replayed: bool = False


def _hash(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


async def _replay(session: AsyncSession, key_hash: str, request_hash: str) -> StoredResponse | None:
    row = await session.get(IdempotencyKey, key_hash, populate_existing=True)
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise IdempotencyKeyReused
    if row.response_status is None or row.response_body is None:
        raise IdempotencyKeyInFlight
    return StoredResponse(row.response_status, row.response_body.encode(), replayed=True)


def check_idempotency_key(idempotency_key: str) -> None:
    if not 1 <= len(idempotency_key) <= 255:
        raise IdempotencyKeyInvalid


async def respond_once(
    session: AsyncSession,
    scope: str,
    idempotency_key: str | None,
    raw_body: bytes,
    produce: Callable[[], Awaitable[str]],
) -> StoredResponse:
    """The 201 body `produce()` creates — once per (scope, key) and body within 24 hours."""
    if idempotency_key is None:
        return StoredResponse(201, (await produce()).encode())
    check_idempotency_key(idempotency_key)
    key_hash, request_hash = _hash(f"{scope}:{idempotency_key}"), _hash(raw_body)
    now = utcnow()
    await session.execute(
        sa.delete(IdempotencyKey).where(
            IdempotencyKey.key_hash == key_hash, IdempotencyKey.expires_at <= now
        )
    )
    replay = await _replay(session, key_hash, request_hash)
    if replay is not None:
        return replay
    row = IdempotencyKey(
        key_hash=key_hash,
        request_hash=request_hash,
        created_at=now,
        expires_at=now + IDEMPOTENCY_TTL,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        replay = await _replay(session, key_hash, request_hash)
        if replay is None:
            raise
        return replay
    body = await produce()
    row.response_status, row.response_body = 201, body
    await session.flush()
    return StoredResponse(201, body.encode())
