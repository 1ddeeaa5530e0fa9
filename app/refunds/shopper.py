"""The shopper's side of a refund claim link: which page a request gets, and the claim itself.

Every request checks the link's signature first (`app.refunds.claims`); an item that is no longer
open only ever shows what became of it, so a link can claim once and is harmless afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.chains import Blockchain, Coin
from app.config import Settings
from app.errors import RefundAlreadyClaimed
from app.refunds import claims, pages, service
from app.refunds.addresses import claim_address
from app.refunds.models import RefundItem, RefundStatus

MAX_ADDRESS_CHARS = 200


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    html: str


async def _linked_item(
    session: AsyncSession, settings: Settings, item_id: str, exp: str, sig: str
) -> RefundItem | Page:
    """The item the link signs for, or the refusal page (an unknown id looks like a bad link)."""
    if not (item_id.isascii() and item_id.isdigit()) or len(item_id) > 18:
        return Page(404, pages.refused(expired=False))
    item = await session.get(RefundItem, int(item_id))
    if item is None:
        return Page(404, pages.refused(expired=False))
    try:
        claims.check(settings, item, exp, sig)
    except claims.LinkRefused as exc:
        return Page(410 if exc.expired else 404, pages.refused(exc.expired))
    return item


def _settled(item: RefundItem, merchant: str, conflict: bool = False) -> Page:
    if item.status == RefundStatus.SENT:
        return Page(409 if conflict else 200, pages.sent(item, merchant))
    return Page(409 if conflict else 200, pages.claimed(item, merchant, just_now=False))


async def show(session: AsyncSession, settings: Settings, item_id: str, exp: str, sig: str) -> Page:
    found = await _linked_item(session, settings, item_id, exp, sig)
    if isinstance(found, Page):
        return found
    merchant = settings.merchant.name
    if found.status != RefundStatus.OPEN:
        return _settled(found, merchant)
    return Page(200, pages.claim_form(found, merchant))


async def submit(
    session: AsyncSession,
    settings: Settings,
    item_id: str,
    exp: str,
    sig: str,
    *,
    address: str,
    confirmed: bool,
    edit: bool,
) -> Page:
    """The form's POST: check the address and ask to confirm it; on confirmation, claim."""
    found = await _linked_item(session, settings, item_id, exp, sig)
    if isinstance(found, Page):
        return found
    merchant = settings.merchant.name
    if found.status != RefundStatus.OPEN:
        return _settled(found, merchant, conflict=True)
    entered = address[:MAX_ADDRESS_CHARS]
    if edit:
        return Page(200, pages.claim_form(found, merchant, entered=entered))
    try:
        canonical = claim_address(
            settings, Blockchain(found.blockchain), Coin(found.token), entered
        )
    except ValueError as exc:
        return Page(400, pages.claim_form(found, merchant, str(exc), entered))
    if not confirmed:
        return Page(200, pages.confirm(found, merchant, canonical))
    try:
        item = await service.claim(session, found, canonical)
    except RefundAlreadyClaimed:
        return _settled(await service.get_item(session, found.id), merchant, conflict=True)
    return Page(200, pages.claimed(item, merchant, just_now=True))
