"""The shopper's side of a session: its link (`/checkout/s/{id}`), which signs a fresh hosted-page
URL for the session's order, the page's signature refresh, and a donation's amount.

The session id is the shopper's credential, as in Stripe: 190 random bits, known to the merchant
and to whoever the merchant sent the link. Whoever holds it may open the hosted page of its order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import utcnow
from app.errors import (
    DonationExpired,
    InvalidInput,
    NotAnOpenDonation,
    SessionNotFound,
    SessionOrderNotFound,
)
from app.money import Amount
from app.security.signatures import sign_url
from app.sessions import events
from app.sessions.models import CheckoutSession, SessionMode, SessionStatus
from app.sessions.schemas import MAX_AMOUNT_CENTS
from app.sessions.service import is_session_id, order_for
from app.sessions.validation import DEFAULT_DONATION_MIN, cents_text


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
    return await events.expire_orderless(session, checkout.id, utcnow()) or checkout


async def session_of_page(session: AsyncSession, session_id: str, order_id: str) -> CheckoutSession:
    """The session whose hosted page shows `order_id`: the session id is the credential, and it
    opens only its own order's page."""
    checkout = await find_session(session, session_id)
    if checkout is None or checkout.order_id is None or str(checkout.order_id) != order_id:
        raise SessionOrderNotFound
    return checkout


async def page_signature(
    session: AsyncSession, settings: Settings, base_url: str, session_id: str, order_id: str
) -> SignedPage:
    """The page's signature refresh for a session order (its `refresh_url` is this session's)."""
    checkout = await session_of_page(session, session_id, order_id)
    return sign_page(settings, base_url, checkout)


def parse_dollars(text: str) -> int:
    """ "12", "12.5", "12.50", "$12.50" → cents; anything else is a 400."""
    cleaned = text.strip().removeprefix("$").replace(",", "").strip()
    try:
        amount = Amount.parse(cleaned)
    except ValueError:
        raise InvalidInput("enter an amount such as 10 or 12.50", param="amount") from None
    if amount.significant_scale > 2:
        raise InvalidInput("enter at most two decimals (cents)", param="amount")
    return amount.to_base_units(2)


async def choose_donation_amount(
    session: AsyncSession, checkout_id: str, amount_text: str
) -> CheckoutSession:
    """The shopper's amount creates the donation's order (once: a second submit finds it)."""
    checkout = await find_session(session, checkout_id)
    if checkout is None:
        raise SessionNotFound(checkout_id)
    if checkout.order_id is not None:
        return checkout
    if checkout.mode != SessionMode.DONATION or not checkout.is_open:
        raise NotAnOpenDonation(checkout.status)
    cents = parse_dollars(amount_text)
    low, high = checkout.amount_min or DEFAULT_DONATION_MIN, checkout.amount_max or MAX_AMOUNT_CENTS
    if not low <= cents <= high:
        raise InvalidInput(
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
        raise DonationExpired
    checkout = await session.get(CheckoutSession, checkout.id, populate_existing=True)
    assert checkout is not None
    order = order_for(checkout, cents, now, checkout.expires_at)
    session.add(order)
    await session.flush()
    checkout.order_id = order.id
    await session.flush()
    return checkout


async def page_summary(session: AsyncSession, session_id: str, order_id: str) -> dict[str, str]:
    """What the hosted page shows of a session beside the order: what is bought and where the
    receipt goes (OVGC requires `email`). Only to the holder of the session id, for its order."""
    checkout = await session_of_page(session, session_id, order_id)
    summary: dict[str, str] = {}
    if checkout.customer_email:
        summary["customer_email"] = checkout.customer_email
    if checkout.line_items:
        summary["product"] = str(checkout.line_items[0]["price_data"]["product_data"]["name"])
    return summary
