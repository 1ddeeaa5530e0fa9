"""Checkout session rules: create (idempotent), read, list, expire, and the shopper's side (the
session link that opens the hosted page, a donation's amount).

A session is a front door onto an ordinary order: a payment session creates its order at once
(`merchant_order_id` = the session id, amount = `amount_total` cents as USD stablecoins 1:1), a
donation when the shopper picks the amount. From then on watchers, deposits and the hosted page
work on the order as on any other; `app.sessions.events` moves the session when the order moves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import string
import time
from dataclasses import dataclass
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import utcnow
from app.errors import BadRequest, Conflict, NotFound
from app.ids import new_id
from app.money import Amount
from app.orders.models import IdempotencyKey, Order, OrderStatus
from app.orders.service import IDEMPOTENCY_TTL, StoredResponse, change_status
from app.security.signatures import sign_url
from app.sessions import events
from app.sessions.models import (
    ApiKey,
    CheckoutSession,
    KeyMode,
    SessionMode,
    SessionStatus,
)
from app.sessions.redirects import check_redirect_url, fill
from app.sessions.schemas import (
    MAX_AMOUNT_CENTS,
    CreateSessionRequest,
    SessionList,
    session_out,
)

_ID_ALPHABET = string.ascii_letters + string.digits
ID_CHARS = 32
"""32 base62 characters: 190 random bits, so the id can be the shopper's bearer token."""
DEFAULT_DONATION_MIN = 100
"""$1.00: smaller gifts cost more in fees than they bring."""
SUPPORTED_CURRENCY = "usd"


_SESSION_ID = re.compile(r"^cs_(test|live)_[A-Za-z0-9]{1,56}$")


def is_session_id(value: str) -> bool:
    return _SESSION_ID.match(value) is not None


def new_session_id(livemode: bool) -> str:
    body = "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_CHARS))
    return f"cs_{'live' if livemode else 'test'}_{body}"


def public_base(settings: Settings, request_base_url: str) -> str:
    """Where shoppers reach this server: `[server].public_url`, else the request's own base."""
    return (settings.server.public_url or request_base_url).rstrip("/")


def session_link(base_url: str, session_id: str) -> str:
    """The session's `url`: following it signs a fresh page URL (see `open_session`)."""
    return f"{base_url}/checkout/s/{session_id}"


def cents_text(cents: int) -> str:
    return str(Amount(cents, 2))


# ---------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True, slots=True)
class Validated:
    mode: SessionMode
    line_items: list[dict[str, object]]
    amount_total: int | None
    amount_min: int | None
    amount_max: int | None
    expires_at: dt.datetime
    metadata: dict[str, str] | None
    customer_email: str | None


def _currency(value: str, param: str) -> None:
    if value.lower() != SUPPORTED_CURRENCY:
        raise BadRequest(
            f"currency {value!r} is not supported: sessions are paid 1:1 in USD stablecoins "
            "(USDT, USDC, DAI), so only usd is accepted",
            param=param,
        )


def _line_items(request: CreateSessionRequest) -> tuple[list[dict[str, object]], int | None]:
    if request.line_items is not None and request.amount is not None:
        raise BadRequest("send either line_items or amount, not both", param="amount")
    if request.line_items is None:
        if request.amount is None:
            return [], None
        name = request.product_title or "Payment"
        _currency(request.currency or SUPPORTED_CURRENCY, "currency")
        item = {
            "price_data": {
                "currency": SUPPORTED_CURRENCY,
                "product_data": {"name": name, "description": None},
                "unit_amount": request.amount,
            },
            "quantity": 1,
            "amount_total": request.amount,
        }
        return [item], request.amount
    if request.currency is not None:
        _currency(request.currency, "currency")
    if not request.line_items:
        raise BadRequest("line_items must not be empty", param="line_items")
    items: list[dict[str, object]] = []
    total = 0
    for index, line in enumerate(request.line_items):
        _currency(line.price_data.currency, f"line_items[{index}][price_data][currency]")
        line_total = line.price_data.unit_amount * line.quantity
        total += line_total
        data = line.model_dump(mode="json")
        if line.price_data.product_data.images is None:
            del data["price_data"]["product_data"]["images"]
        data["price_data"]["currency"] = SUPPORTED_CURRENCY
        data["amount_total"] = line_total
        items.append(data)
    return items, total


def _expiry(request: CreateSessionRequest, settings: Settings, now: dt.datetime) -> dt.datetime:
    config = settings.checkout_sessions
    if request.expires_at is None:
        return now + dt.timedelta(seconds=config.default_ttl_seconds)
    seconds = request.expires_at - int(now.timestamp())
    if not 60 <= seconds <= config.max_ttl_seconds:
        raise BadRequest(
            f"expires_at must be between 60 seconds and {config.max_ttl_seconds} seconds from now",
            param="expires_at",
        )
    return dt.datetime.fromtimestamp(request.expires_at, dt.UTC)


def validate(request: CreateSessionRequest, settings: Settings, now: dt.datetime) -> Validated:
    """Everything a create request must satisfy, checked before anything is written."""
    if request.mode not in (SessionMode.PAYMENT, SessionMode.DONATION):
        raise BadRequest(
            f"mode {request.mode!r} is not supported: use payment or donation "
            "(stablecoin payments here are one-time)",
            param="mode",
        )
    mode = SessionMode(request.mode)
    items, total = _line_items(request)
    amount_min = amount_max = None
    if mode is SessionMode.PAYMENT:
        if total is None:
            raise BadRequest("a payment session needs line_items or amount", param="line_items")
        if total <= 0:
            raise BadRequest("the session's total must be greater than 0", param="line_items")
        if total > MAX_AMOUNT_CENTS:
            raise BadRequest(
                f"the session's total is above {cents_text(MAX_AMOUNT_CENTS)} usd",
                param="line_items",
            )
        for name in ("amount_min", "amount_max"):
            if getattr(request, name) is not None:
                raise BadRequest(f"{name} is only for donation sessions", param=name)
    else:
        if len(items) > 1:
            raise BadRequest("a donation session takes at most one line item", param="line_items")
        amount_min = request.amount_min or DEFAULT_DONATION_MIN
        amount_max = request.amount_max or MAX_AMOUNT_CENTS
        if amount_min > amount_max:
            raise BadRequest("amount_min is above amount_max", param="amount_min")
        if total is not None and total > 0 and not amount_min <= total <= amount_max:
            raise BadRequest(
                "the suggested amount is outside amount_min..amount_max", param="amount"
            )
        total = None  # the shopper chooses; the suggestion stays in line_items
    check_redirect_url("success_url", request.success_url, settings)
    if request.cancel_url is not None:
        check_redirect_url("cancel_url", request.cancel_url, settings)
    email = request.customer_email or request.email
    if email is not None and ("@" not in email.strip("@") or any(c.isspace() for c in email)):
        raise BadRequest("customer_email is not an email address", param="customer_email")
    metadata = (
        {key: str(value) for key, value in request.metadata.items()}
        if request.metadata is not None
        else None
    )
    return Validated(
        mode, items, total, amount_min, amount_max, _expiry(request, settings, now), metadata, email
    )


# ---------------------------------------------------------------------------------------------
# Create


def _order_for(
    checkout: CheckoutSession, amount_cents: int, now: dt.datetime, expires_at: dt.datetime
) -> Order:
    return Order(
        id=new_id(),
        merchant_order_id=checkout.id,
        amount_units=amount_cents,
        amount_scale=2,
        status=OrderStatus.PENDING,
        webhook_url=checkout.webhook_url or "",
        success_url=fill(checkout.success_url, checkout.id),
        cancel_url=fill(checkout.cancel_url, checkout.id),
        created_at=now,
        updated_at=now,
        expires_at=expires_at,
    )


async def create_session(
    session: AsyncSession, settings: Settings, key: ApiKey, request: CreateSessionRequest
) -> CheckoutSession:
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
        currency=SUPPORTED_CURRENCY,
        line_items=valid.line_items,
        success_url=request.success_url,
        cancel_url=request.cancel_url,
        customer_email=valid.customer_email,
        client_reference_id=request.client_reference_id,
        metadata_=valid.metadata,
        webhook_url=settings.checkout_sessions.webhook_url,
        created_at=now,
        expires_at=valid.expires_at,
    )
    if valid.amount_total is not None:
        order = _order_for(checkout, valid.amount_total, now, valid.expires_at)
        session.add(order)
        await session.flush()
        checkout.order_id = order.id
    session.add(checkout)
    await session.flush()
    return checkout


def _hash(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


async def _replay(session: AsyncSession, key_hash: str, request_hash: str) -> StoredResponse | None:
    row = await session.get(IdempotencyKey, key_hash, populate_existing=True)
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise Conflict(
            "Idempotency-Key was already used with a different request body",
            param="Idempotency-Key",
        )
    if row.response_status is None or row.response_body is None:
        raise Conflict("a request with this Idempotency-Key is still being processed")
    return StoredResponse(row.response_status, row.response_body.encode(), replayed=True)


async def create_session_response(
    session: AsyncSession,
    settings: Settings,
    key: ApiKey,
    request: CreateSessionRequest,
    *,
    base_url: str,
    raw_body: bytes,
    idempotency_key: str | None,
) -> StoredResponse:
    """Create a session and its 201 body. With an `Idempotency-Key` (kept 24 h, scoped to the
    key's mode as Stripe scopes it to the account, so rotating keys keeps it): the same key and
    body answer the first response again, a different body is a 409.

    Invalid requests are refused before the key is recorded, so fixing the body and retrying with
    the same key works. The key row is inserted in a savepoint before the session: a concurrent
    request with the same key waits on the primary key, then replays the first response.
    """
    validate(request, settings, utcnow())
    if idempotency_key is None:
        checkout = await create_session(session, settings, key, request)
        body = session_out(checkout, session_link(base_url, checkout.id)).model_dump_json()
        return StoredResponse(201, body.encode())
    if not 1 <= len(idempotency_key) <= 255:
        raise BadRequest("Idempotency-Key must be 1 to 255 characters", param="Idempotency-Key")
    key_hash = _hash(f"sessions:{key.mode}:{idempotency_key}")
    request_hash = _hash(raw_body)
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
    checkout = await create_session(session, settings, key, request)
    body = session_out(checkout, session_link(base_url, checkout.id)).model_dump_json()
    row.response_status, row.response_body = 201, body
    await session.flush()
    return StoredResponse(201, body.encode())


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
        raise NotFound(f"No such checkout session: {session_id!r}", param="id")
    return checkout


async def list_sessions(
    session: AsyncSession, key: ApiKey, base_url: str, *, limit: int, starting_after: str | None
) -> SessionList:
    """Newest first; `starting_after` = the last id of the previous page."""
    if not 1 <= limit <= 100:
        raise BadRequest("limit must be between 1 and 100", param="limit")
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
    return SessionList(
        has_more=len(rows) > limit,
        data=[session_out(cs, session_link(base_url, cs.id)) for cs in rows[:limit]],
    )


async def expire_session(session: AsyncSession, key: ApiKey, session_id: str) -> CheckoutSession:
    """open → expired at once; the order (if any) expires with it and stops accepting payment."""
    checkout = await get_session(session, key, session_id)
    if not checkout.is_open:
        raise BadRequest(
            f"only an open session can be expired; this one is {checkout.status}", param="id"
        )
    now = utcnow()
    if checkout.order_id is None:
        moved = await events.move(
            session,
            checkout.id,
            {"status": SessionStatus.EXPIRED},
            SessionStatus.OPEN,
            CheckoutSession.order_id.is_(None),
        )
        if moved is not None:
            events.write_event(session, moved, events.SessionEvent.EXPIRED, now)
    else:
        # A payment sent from now on is late: it is linked to the order, reported, never taken
        # for an on-time payment (the matcher pays an expired order only up to its expires_at).
        await session.execute(
            sa.update(Order)
            .where(Order.id == checkout.order_id, Order.status == OrderStatus.PENDING)
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )
        await change_status(session, checkout.order_id, to=OrderStatus.EXPIRED)
    checkout = await get_session(session, key, session_id)
    if checkout.status != SessionStatus.EXPIRED:
        raise Conflict(f"the session became {checkout.status} meanwhile", param="id")
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
        moved = await events.move(
            session,
            session_id,
            {"status": SessionStatus.EXPIRED},
            SessionStatus.OPEN,
            CheckoutSession.order_id.is_(None),
        )
        if moved is not None:
            events.write_event(session, moved, events.SessionEvent.EXPIRED, now)
            expired += 1
    return expired


# ---------------------------------------------------------------------------------------------
# The shopper's side: the session link and a donation's amount


@dataclass(frozen=True, slots=True)
class SignedPage:
    signed_url: str
    signature: str

    @property
    def url(self) -> str:
        return f"{self.signed_url}&sig={quote(self.signature, safe='')}"


def sign_page(settings: Settings, base_url: str, checkout: CheckoutSession) -> SignedPage:
    """A fresh signed link to the hosted page for the session's order (the server signs it: the
    session id is the shopper's credential). `session=` lets the page refresh it here."""
    assert checkout.order_id is not None
    signed = f"{base_url}/checkout/?order_id={checkout.order_id}&session={checkout.id}"
    return SignedPage(signed, sign_url(settings.merchant.secret, signed, int(time.time())))


async def find_session(session: AsyncSession, session_id: str) -> CheckoutSession | None:
    if not is_session_id(session_id):
        return None
    return await session.get(CheckoutSession, session_id, populate_existing=True)


@dataclass(frozen=True, slots=True)
class Landing:
    """Where a session link leads: the hosted page (`page`), else the donation amount form (an open
    donation without its order), else a closed-session notice; no `checkout`: not found."""

    checkout: CheckoutSession | None
    page: SignedPage | None = None

    @property
    def wants_amount(self) -> bool:
        return self.checkout is not None and self.page is None and self.checkout.is_open


async def open_session(
    session: AsyncSession, settings: Settings, base_url: str, session_id: str
) -> Landing:
    """Following a session's `url`. A session with an order always opens the hosted page, which
    shows its state (paying, paid, expired), so a shopper's reload or back button still works."""
    checkout = await find_session(session, session_id)
    if checkout is None:
        return Landing(None)
    if checkout.order_id is not None:
        return Landing(checkout, sign_page(settings, base_url, checkout))
    if checkout.is_open and checkout.expires_at <= utcnow():
        return Landing(await _expire_now(session, checkout))
    return Landing(checkout)


async def _expire_now(session: AsyncSession, checkout: CheckoutSession) -> CheckoutSession:
    """A due donation session the sweeper has not reached yet."""
    moved = await events.move(
        session,
        checkout.id,
        {"status": SessionStatus.EXPIRED},
        SessionStatus.OPEN,
        CheckoutSession.order_id.is_(None),
    )
    if moved is not None:
        events.write_event(session, moved, events.SessionEvent.EXPIRED, utcnow())
        return moved
    return checkout


async def page_signature(
    session: AsyncSession, settings: Settings, base_url: str, session_id: str, order_id: str
) -> SignedPage:
    """The page's signature refresh for a session order (its `refresh_url` is this session's)."""
    checkout = await find_session(session, session_id)
    if checkout is None or checkout.order_id is None or str(checkout.order_id) != order_id:
        raise NotFound("no such checkout session order")
    return sign_page(settings, base_url, checkout)


def parse_dollars(text: str) -> int:
    """ "12", "12.5", "12.50", "$12.50" → cents; anything else is a 400."""
    cleaned = text.strip().removeprefix("$").replace(",", "").strip()
    try:
        amount = Amount.parse(cleaned)
    except ValueError:
        raise BadRequest("enter an amount such as 10 or 12.50", param="amount") from None
    if amount.significant_scale > 2:
        raise BadRequest("enter at most two decimals (cents)", param="amount")
    return amount.to_base_units(2)


async def choose_donation_amount(
    session: AsyncSession, checkout_id: str, amount_text: str
) -> CheckoutSession:
    """The shopper's amount creates the donation's order (once: a second submit finds it)."""
    checkout = await find_session(session, checkout_id)
    if checkout is None:
        raise NotFound("no such checkout session")
    if checkout.order_id is not None:
        return checkout
    if checkout.mode != SessionMode.DONATION or not checkout.is_open:
        raise Conflict(f"this checkout is {checkout.status}")
    cents = parse_dollars(amount_text)
    low, high = checkout.amount_min or DEFAULT_DONATION_MIN, checkout.amount_max or MAX_AMOUNT_CENTS
    if not low <= cents <= high:
        raise BadRequest(
            f"choose an amount between {cents_text(low)} and {cents_text(high)} USD",
            param="amount",
        )
    now = utcnow()
    claimed = await session.scalar(
        sa.update(CheckoutSession)
        .where(
            CheckoutSession.id == checkout.id,
            CheckoutSession.order_id.is_(None),
            CheckoutSession.status == SessionStatus.OPEN,
            CheckoutSession.expires_at > now,
        )
        .values(amount_total=cents)
        .returning(CheckoutSession.id),
        execution_options={"synchronize_session": False},
    )
    if claimed is None:
        again = await find_session(session, checkout_id)
        if again is not None and again.order_id is not None:
            return again
        raise Conflict("this checkout has expired")
    checkout = await session.get(CheckoutSession, checkout.id, populate_existing=True)
    assert checkout is not None
    order = _order_for(checkout, cents, now, checkout.expires_at)
    session.add(order)
    await session.flush()
    checkout.order_id = order.id
    await session.flush()
    return checkout


def key_mode(test: bool) -> KeyMode:
    return KeyMode.TEST if test else KeyMode.LIVE
