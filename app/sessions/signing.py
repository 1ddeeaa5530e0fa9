"""`Stablecheckout-Signature` for session webhooks: `t=<unix>,v1=<hex HMAC-SHA256(key, "t.body")>`.

Timestamped like Stripe's: the receiver checks the HMAC and that `t` is recent (docs: 300 s), so
a captured request cannot be replayed later. Ocrch's own events keep `Ocrch-Signature`.
"""

from __future__ import annotations

import hashlib
import hmac

from app.config import Settings

HEADER = "Stablecheckout-Signature"
EVENT_PREFIX = "checkout.session."
TOLERANCE_SECONDS = 300
"""What the docs tell receivers to accept between `t` and their clock."""


def is_session_event(event_type: str) -> bool:
    return event_type.startswith(EVENT_PREFIX)


class NoWebhookSecret(Exception):
    """A session event is due but `[checkout_sessions].webhook_secret` is not set (the config
    dropped `webhook_url` after sessions were created with it)."""


def webhook_key(settings: Settings) -> str:
    """Session events have their own key (Stripe's `whsec_` model), never `[merchant].secret`:
    a receiver of session events that leaks it cannot forge Ocrch requests or signed URLs."""
    key = settings.checkout_sessions.webhook_secret
    if not key:
        raise NoWebhookSecret(
            "no [checkout_sessions].webhook_secret is set: session events are not signed with "
            "[merchant].secret; set one (`stablecheckout gen-secret --webhook`)"
        )
    return key


def sign(key: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(key.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"
