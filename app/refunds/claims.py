"""Refund claim links: a signed address for one refund item's claim page.

    /refunds/claim/<item id>?exp=<unix seconds>&sig=<base64url HMAC-SHA256>

The link is the shopper's only credential, so it is signed with a key of its own derived from
`[merchant].secret` (a leaked claim link teaches nothing about the merchant secret, and no other
signature of this server verifies as a claim link), binds the item's transfer and kind besides its
id (a row id SQLite reused after a deletion never opens another item), and carries its own expiry
(`[refunds].claim_link_ttl_days`). Replays after the claim are refused by the item's status, not
by the link: a claimed item's page only says it was claimed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from app.config import Settings
from app.refunds.models import RefundItem

PATH = "/refunds/claim/"
_KEY_LABEL = b"stablecheckout refund claim link v1"
MAX_SIG_CHARS = 64
"""A signature is 43 characters: a longer `sig` is refused before any HMAC is computed."""


class LinkRefused(Exception):
    """The link is not one this server signed for this item, or it expired: `expired` says which
    (the page words them differently; neither opens the form)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


@dataclass(frozen=True, slots=True)
class ClaimLink:
    url: str
    expires_at: int


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.merchant.secret.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()


def _message(item: RefundItem, expires_at: int) -> bytes:
    return f"{item.id}.{item.transfer_id}.{item.kind}.{expires_at}".encode("ascii")


def signature(settings: Settings, item: RefundItem, expires_at: int) -> str:
    mac = hmac.new(_key(settings), _message(item, expires_at), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def make_link(
    settings: Settings, item: RefundItem, base_url: str, now: float | None = None
) -> ClaimLink:
    """A fresh link for `item` valid `[refunds].claim_link_ttl_days` from `now`."""
    moment = int(time.time() if now is None else now)
    expires_at = moment + settings.refunds.claim_link_ttl_days * 86400
    sig = signature(settings, item, expires_at)
    url = f"{base_url.rstrip('/')}{PATH}{item.id}?exp={expires_at}&sig={sig}"
    return ClaimLink(url=url, expires_at=expires_at)


def check(
    settings: Settings, item: RefundItem, exp: str, sig: str, now: float | None = None
) -> None:
    """Raise `LinkRefused` unless (`exp`, `sig`) is this item's signed, unexpired link.

    The HMAC is compared in constant time, and checked before the expiry, so a forged link learns
    nothing from which refusal it gets."""
    if not (exp.isascii() and exp.isdigit()) or len(exp) > 12 or len(sig) > MAX_SIG_CHARS:
        raise LinkRefused(expired=False)
    expected = signature(settings, item, int(exp))
    if not hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii", "replace")):
        raise LinkRefused(expired=False)
    if int(exp) < (time.time() if now is None else now):
        raise LinkRefused(expired=True)
