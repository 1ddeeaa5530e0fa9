"""Test mode never touches live money's bookkeeping: separate wallets, and per-key limits.

Why separate wallets and not a separate namespace in the unique-amount index: a transfer is
matched by (chain, token, wallet, amount) alone. If a test reservation and a live one could hold
the same amount on the same wallet, a shopper's real payment would match both, and which order
it paid would be a coin toss. With disjoint wallets (`[[wallets]] test = true`) the index stays
as it is, a live amount can only be reserved by a live order, and a test key that reserves every
amount it can exhausts only the test pool.

The limits bound what one key can hold at all: sessions created per minute and open sessions
(each open session's order keeps at most one amount per chain and coin). They are counted in the
database, so every replica sees the same counts; concurrent requests may overshoot a limit by
their number.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import utcnow
from app.errors import TooManyOpenSessions, TooManySessionsPerMinute
from app.sessions.models import ApiKey, CheckoutSession, SessionStatus

WINDOW = dt.timedelta(seconds=60)


async def is_test_order(session: AsyncSession, order_id: uuid.UUID) -> bool:
    """Whether the order belongs to a test-mode Checkout Session (every other order is live)."""
    livemode = await session.scalar(
        sa.select(CheckoutSession.livemode).where(CheckoutSession.order_id == order_id)
    )
    return livemode is False


async def signed_url_is_test(session: AsyncSession, signed_url: str | None) -> bool:
    """Whether an (already verified) signed checkout URL names a test-mode order in its
    `order_id` query, so the page it opens lists the test wallets' pairs."""
    if not signed_url:
        return False
    try:
        named = parse_qs(urlsplit(signed_url).query).get("order_id", [])
        order_id = uuid.UUID(named[0]) if len(named) == 1 else None
    except ValueError:
        return False
    return order_id is not None and await is_test_order(session, order_id)


def _seconds_until(moment: dt.datetime, now: dt.datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


async def check_key_limits(session: AsyncSession, settings: Settings, key: ApiKey) -> None:
    """Refuse (429 with `Retry-After`) when `key` may not create a session now."""
    limits = settings.checkout_sessions
    now = utcnow()
    per_minute = limits.max_sessions_per_minute_per_key
    if per_minute:
        count, oldest = (
            await session.execute(
                sa.select(sa.func.count(), sa.func.min(CheckoutSession.created_at)).where(
                    CheckoutSession.api_key_id == key.id,
                    CheckoutSession.created_at > now - WINDOW,
                )
            )
        ).one()
        if count >= per_minute and oldest is not None:
            raise TooManySessionsPerMinute(count, per_minute, _seconds_until(oldest + WINDOW, now))
    max_open = limits.max_open_sessions_per_key
    if max_open:
        count, soonest = (
            await session.execute(
                sa.select(sa.func.count(), sa.func.min(CheckoutSession.expires_at)).where(
                    CheckoutSession.api_key_id == key.id,
                    CheckoutSession.status == SessionStatus.OPEN,
                    CheckoutSession.expires_at > now,
                )
            )
        ).one()
        if count >= max_open and soonest is not None:
            raise TooManyOpenSessions(count, max_open, _seconds_until(soonest, now))
