"""Checkout session rules for the merchant: create (idempotent), read, list, expire; the sweeper
for sessions without an order. The shopper's side is `app.sessions.shopper`.

A session is a front door onto an ordinary order: a payment session creates its order at once
(`merchant_order_id` = the session id, amount = `amount_total` cents as USD stablecoins 1:1), a
donation when the shopper picks the amount. From then on watchers, deposits and the hosted page
work on the order as on any other; `app.sessions.events` moves the session when the order moves.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import string
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, parse_listen
from app.db import utcnow
from app.errors import (
    InvalidInput,
    NoPublicUrl,
    SessionChangedMeanwhile,
    SessionNotFound,
    SessionNotOpen,
)
from app.idempotency import StoredResponse, respond_once
from app.money import Amount
from app.orders import lifecycle
from app.orders.events import Actor
from app.orders.models import Order, OrderStatus
from app.rates.currencies import minor_units
from app.security.signatures import url_origin
from app.sessions import events
from app.sessions.models import (
    INTEGRATION,
    ApiKey,
    CheckoutSession,
    KeyMode,
    SessionStatus,
)
from app.sessions.redirects import fill
from app.sessions.schemas import CreateSessionRequest
from app.sessions.validation import SUPPORTED_CURRENCY, validate

_ID_ALPHABET = string.ascii_letters + string.digits
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
ID_CHARS = 32
"""32 base62 characters: 190 random bits, so the id can be the shopper's bearer token."""
_SESSION_ID = re.compile(r"^cs_(test|live)_[A-Za-z0-9]{1,56}$")


def is_session_id(value: str) -> bool:
    return _SESSION_ID.match(value) is not None


def new_session_id(livemode: bool) -> str:
    body = "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_CHARS))
    return f"cs_{'live' if livemode else 'test'}_{body}"


def public_base(settings: Settings, *, for_new_session: bool = False) -> str:
    """Where shoppers reach this server, by the hosted page's own-origin rule
    (`app.security.user_auth.own_origin`): `[server].public_url`, else the address `serve` listens
    on; never the request's Host header. A new session refuses a wildcard listen address, which
    no shopper can open: its link would be dead."""
    if settings.server.public_url:
        return settings.server.public_url.rstrip("/")
    host, _ = parse_listen(settings.server.listen)
    if for_new_session and host in WILDCARD_HOSTS:
        raise NoPublicUrl(settings.server.listen)
    return url_origin(f"http://{settings.server.listen}") or f"http://{settings.server.listen}"


def session_link(base_url: str, session_id: str) -> str:
    """The session's `url`: following it signs a fresh page URL (see `open_session`)."""
    return f"{base_url}/checkout/s/{session_id}"


# ---------------------------------------------------------------------------------------------
# Create


def order_for(
    checkout: CheckoutSession, amount_cents: int, now: dt.datetime, expires_at: dt.datetime
) -> Order:
    """The session's order: usd in coin units (1:1, cents), any other currency as a fiat price in
    its minor units, quoted per coin when the shopper picks one (`app.payments.quotes`)."""
    fiat = checkout.currency != SUPPORTED_CURRENCY
    return Order.pending(
        checkout.id,
        Amount(amount_cents, minor_units(checkout.currency) if fiat else 2),
        now,
        expires_at,
        currency=checkout.currency.upper() if fiat else None,
        integration=INTEGRATION,
        webhook_url=checkout.webhook_url or "",
        success_url=fill(checkout.success_url, checkout.id),
        cancel_url=fill(checkout.cancel_url, checkout.id),
    )


async def create_session(
    session: AsyncSession,
    settings: Settings,
    key: ApiKey,
    request: CreateSessionRequest,
    *,
    dialect: str | None = None,
    webhook_url: str | None = None,
) -> CheckoutSession:
    """A session and its order. An API dialect (`app.dialects`) names itself and its own
    webhook URL: its events are written in its format, not as `checkout.session.*`."""
    now = utcnow()
    valid = validate(request, settings, now)
    checkout = CheckoutSession(
        id=new_session_id(key.livemode),
        mode=valid.mode,
        livemode=key.livemode,
        api_key_id=key.id,
        amount_total=valid.amount_total,
        amount_min=valid.amount_min,
        amount_max=valid.amount_max,
        currency=valid.currency,
        line_items=valid.line_items,
        success_url=request.success_url,
        cancel_url=request.cancel_url,
        customer_email=valid.customer_email,
        client_reference_id=request.client_reference_id,
        metadata_=valid.metadata,
        webhook_url=webhook_url if dialect else settings.checkout_sessions.webhook_url,
        dialect=dialect,
        created_at=now,
        expires_at=valid.expires_at,
    )
    if valid.amount_total is not None:
        order = order_for(checkout, valid.amount_total, now, valid.expires_at)
        session.add(order)
        await session.flush()
        checkout.order_id = order.id
    session.add(checkout)
    await session.flush()
    return checkout


async def create_session_once(
    session: AsyncSession,
    settings: Settings,
    key: ApiKey,
    request: CreateSessionRequest,
    render: Callable[[CheckoutSession, Order | None], str],
    *,
    raw_body: bytes,
    idempotency_key: str | None,
    dialect: str | None = None,
    webhook_url: str | None = None,
) -> StoredResponse:
    """Create a session and the body `render` makes of it. With an `Idempotency-Key` (kept 24 h,
    scoped to the API — ours or the dialect — and the key's mode, as Stripe scopes it to the
    account, so rotating keys keeps it): the same key and body answer the first response again, a
    different body is a 409.

    Invalid requests are refused before the key is recorded, so fixing the body and retrying with
    the same key works. The key row is inserted in a savepoint before the session: a concurrent
    request with the same key waits on the primary key, then replays the first response.
    """
    validate(request, settings, utcnow())

    async def produce() -> str:
        checkout = await create_session(
            session, settings, key, request, dialect=dialect, webhook_url=webhook_url
        )
        order = await session.get(Order, checkout.order_id) if checkout.order_id else None
        return render(checkout, order)

    scope = f"{dialect or 'sessions'}:{key.mode}"
    return await respond_once(session, scope, idempotency_key, raw_body, produce)


# ---------------------------------------------------------------------------------------------
# Read, list, expire


async def get_session(session: AsyncSession, key: ApiKey, session_id: str) -> CheckoutSession:
    """The session, if the key's mode may see it (a test key never sees live sessions)."""
    checkout = (
        await session.get(CheckoutSession, session_id, populate_existing=True)
        if is_session_id(session_id)
        else None
    )
    if checkout is None or checkout.livemode != key.livemode:
        raise SessionNotFound(session_id)
    return checkout


async def list_sessions(
    session: AsyncSession, key: ApiKey, *, limit: int, starting_after: str | None
) -> tuple[list[CheckoutSession], bool]:
    """A page of the key's sessions, newest first, and whether more follow; `starting_after` =
    the last id of the previous page."""
    if not 1 <= limit <= 100:
        raise InvalidInput("limit must be between 1 and 100", param="limit")
    query = sa.select(CheckoutSession).where(CheckoutSession.livemode == key.livemode)
    if starting_after is not None:
        cursor = await get_session(session, key, starting_after)
        query = query.where(
            sa.or_(
                CheckoutSession.created_at < cursor.created_at,
                sa.and_(
                    CheckoutSession.created_at == cursor.created_at,
                    CheckoutSession.id < cursor.id,
                ),
            )
        )
    rows = list(
        await session.scalars(
            query.order_by(CheckoutSession.created_at.desc(), CheckoutSession.id.desc()).limit(
                limit + 1
            )
        )
    )
    return rows[:limit], len(rows) > limit


async def orders_of(
    session: AsyncSession, sessions: list[CheckoutSession]
) -> dict[uuid.UUID, Order]:
    """The orders of these sessions (one query), to show what each received."""
    order_ids = [cs.order_id for cs in sessions if cs.order_id is not None]
    if not order_ids:
        return {}
    found = await session.scalars(sa.select(Order).where(Order.id.in_(order_ids)))
    return {o.id: o for o in found}


async def expire_session(session: AsyncSession, key: ApiKey, session_id: str) -> CheckoutSession:
    """open → expired at once; the order (if any) expires with it and stops accepting payment."""
    checkout = await get_session(session, key, session_id)
    if not checkout.is_open:
        raise SessionNotOpen(checkout.status)
    now = utcnow()
    if checkout.order_id is None:
        await events.expire_orderless(session, checkout.id, now)
    else:
        # A payment sent from now on is late: it is linked to the order, reported, never taken
        # for an on-time payment (the lifecycle pays an expired order only up to its expires_at).
        await lifecycle.move(
            session,
            checkout.order_id,
            OrderStatus.EXPIRED,
            lifecycle.Request(by=Actor.MERCHANT, end_now=True),
        )
    checkout = await get_session(session, key, session_id)
    if checkout.status != SessionStatus.EXPIRED:
        raise SessionChangedMeanwhile(checkout.status)
    return checkout


async def expire_due_sessions(session: AsyncSession, *, limit: int = 500) -> int:
    """Sessions without an order (donations never started) past `expires_at`; sessions with one
    expire with their order (the order sweeper)."""
    now = utcnow()
    due = list(
        await session.scalars(
            sa.select(CheckoutSession.id)
            .where(
                CheckoutSession.status == SessionStatus.OPEN,
                CheckoutSession.order_id.is_(None),
                CheckoutSession.expires_at <= now,
            )
            .order_by(CheckoutSession.expires_at)
            .limit(limit)
        )
    )
    expired = 0
    for session_id in due:
        if await events.expire_orderless(session, session_id, now) is not None:
            expired += 1
    return expired


def key_mode(test: bool) -> KeyMode:
    return KeyMode.TEST if test else KeyMode.LIVE
