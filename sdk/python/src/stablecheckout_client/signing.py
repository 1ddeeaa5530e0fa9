"""The HMAC-SHA256 schemes the server speaks, with nothing but the standard library.

* `Ocrch-Signature: {ts}.{sig}` over `ts + "." + body` (Service API requests, order webhooks)
  and over `url + "." + ts` (checkout URLs, User API). `sig` is standard base64 without `=`
  padding: the Ocrch server refuses padding, so this module never sends it, but it accepts a
  padded value when verifying (what Ocrch's documentation examples produce).
* `Stablecheckout-Signature: t={ts},v1={hex}` over `ts + "." + body` (Checkout Session webhooks),
  keyed with the session webhook secret, which need not be the merchant secret.

Verification compares in constant time and checks freshness only after the HMAC matched, so a
forged header learns nothing about the clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from urllib.parse import quote

TOLERANCE_SECONDS = 300
"""How far a signature's timestamp may be from now: the server's own window."""

_TS = re.compile(r"^-?[0-9]{1,19}$")


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def _b64_nopad(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


def sign_body(secret: str, body: bytes, ts: int | None = None) -> str:
    """The `Ocrch-Signature` value for a Service API request body (the exact bytes you send)."""
    stamp = _now(ts)
    return f"{stamp}.{_b64_nopad(_mac(secret, str(stamp).encode() + b'.' + body))}"


def sign_url(secret: str, url: str, ts: int | None = None) -> str:
    """The `Ocrch-Signature` value for a checkout URL (URL first, then the timestamp)."""
    stamp = _now(ts)
    return f"{stamp}.{_b64_nopad(_mac(secret, f'{url}.{stamp}'.encode()))}"


def checkout_link(
    secret: str, order_id: str, *, page: str, ts: int | None = None, lang: str | None = None
) -> str:
    """The link that sends a shopper to a checkout page: the signed page URL plus `&sig=`.

    `page` is the page's address without query (the hosted page is `<server>/checkout/`, with its
    trailing slash). The page strips exactly `&sig=…` and signs the rest, byte for byte.
    """
    signed = signed_page_url(order_id, page=page, lang=lang)
    return f"{signed}&sig={quote(sign_url(secret, signed, ts), safe='')}"


def signed_page_url(order_id: str, *, page: str, lang: str | None = None) -> str:
    """The URL that `checkout_link` signs: the page with `order_id` (and `lang`) as its query."""
    separator = "&" if "?" in page else "?"
    url = f"{page}{separator}order_id={order_id}"
    return f"{url}&lang={quote(lang, safe='')}" if lang else url


def parse_ocrch_header(header: str) -> tuple[int, bytes]:
    """`{ts}.{sig}` split at the first dot; padded or unpadded standard base64. ValueError else."""
    ts_text, dot, sig = header.partition(".")
    if not dot or not _TS.match(ts_text):
        raise ValueError("not `{ts}.{signature}`")
    stripped = sig.rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9+/]{43}", stripped) or len(sig) - len(stripped) > 1:
        raise ValueError("the signature is not 32 bytes of standard base64")
    try:
        raw = base64.b64decode(stripped + "=", validate=True)
    except binascii.Error:
        raise ValueError("the signature is not base64") from None
    return int(ts_text), raw


def verify_body_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: int | None = None,
) -> int:
    """Check an `Ocrch-Signature` over `body`; returns its timestamp or raises ValueError."""
    if not header:
        raise ValueError("missing Ocrch-Signature header")
    ts, raw = parse_ocrch_header(header.strip())
    if not hmac.compare_digest(raw, _mac(secret, str(ts).encode() + b"." + body)):
        raise ValueError("signature mismatch")
    if abs(_now(now) - ts) > tolerance:
        raise ValueError("signature timestamp outside the tolerance")
    return ts


def verify_url_signature(
    secret: str,
    url: str,
    header: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: int | None = None,
) -> int:
    """Check a checkout-URL signature (what the server does for the User API); returns `ts`."""
    ts, raw = parse_ocrch_header(header.strip())
    if not hmac.compare_digest(raw, _mac(secret, f"{url}.{ts}".encode())):
        raise ValueError("signature mismatch")
    if abs(_now(now) - ts) > tolerance:
        raise ValueError("signature timestamp outside the tolerance")
    return ts


def sign_session_webhook(secret: str, body: bytes, ts: int | None = None) -> str:
    """A `Stablecheckout-Signature` value, as the server makes one (for tests and relays)."""
    stamp = _now(ts)
    digest = hmac.new(secret.encode("utf-8"), f"{stamp}.".encode() + body, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


def verify_session_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: int | None = None,
) -> int:
    """Check `Stablecheckout-Signature: t=…,v1=…` (any `v1` may match: secret rotation)."""
    if not header:
        raise ValueError("missing Stablecheckout-Signature header")
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = value
        elif key == "v1":
            candidates.append(value.lower())
    if timestamp is None or not candidates:
        raise ValueError("not `t=<unix seconds>,v1=<hex>`")
    expected = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    if not any(
        hmac.compare_digest(expected.encode(), c.encode("ascii", "replace")) for c in candidates
    ):
        raise ValueError("signature mismatch")
    ts = int(timestamp)
    if abs(_now(now) - ts) > tolerance:
        raise ValueError("signature timestamp outside the tolerance")
    return ts
