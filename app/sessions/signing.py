"""`Stablecheckout-Signature` for session webhooks: `t=<unix>,v1=<hex HMAC-SHA256(key, "t.body")>`.

Timestamped like Stripe's: the receiver checks the HMAC and that `t` is recent (docs: 300 s), so
a captured request cannot be replayed later. Ocrch's own events keep `Ocrch-Signature`.
"""

from __future__ import annotations

import hashlib
import hmac

from app.config import Settings

HEADER = "Stablecheckout-Signature"
TOLERANCE_SECONDS = 300
"""What the docs tell receivers to accept between `t` and their clock."""


def webhook_key(settings: Settings) -> str:
    return settings.checkout_sessions.webhook_secret or settings.merchant.secret


def sign(key: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(key.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"
