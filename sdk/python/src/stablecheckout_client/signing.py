"""The HMAC-SHA256 schemes the server speaks, with nothing but the standard library.

* `Ocrch-Signature: {ts}.{sig}` over `ts + "." + body` (Service API requests, order webhooks)
  and over `url + "." + ts` (checkout URLs, User API). `sig` is standard base64 without `=`
  padding: the Ocrch server refuses padding, so this module never sends it, but it accepts a
  padded value when verifying (what Ocrch's documentation examples produce).
* `Stablecheckout-Signature: t={ts},v1={hex}` over `ts + "." + body` (Checkout Session webhooks),
  keyed with the session webhook secret, which need not be the merchant secret;
  `OpenCheckout-Signature` is the same scheme with the OpenCheckout dialect's secret.
* OVGC: `X-Webhook-Timestamp: {ts}` and `X-Webhook-Signature: sha256={hex}` over `ts + "." + body`.
* Seed 002: `Authorization: HMAC-SHA256 Signature={hex}` over the body alone (no timestamp).

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
from collections.abc import Callable
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


def _fresh(ts: int, tolerance: int, now: int | None) -> int:
    if abs(_now(now) - ts) > tolerance:
        raise ValueError("signature timestamp outside the tolerance")
    return ts


def _check_ocrch(
    secret: str, header: str, message: Callable[[int], bytes], tolerance: int, now: int | None
) -> int:
    ts, raw = parse_ocrch_header(header.strip())
    if not hmac.compare_digest(raw, _mac(secret, message(ts))):
        raise ValueError("signature mismatch")
    return _fresh(ts, tolerance, now)


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
    return _check_ocrch(secret, header, lambda ts: str(ts).encode() + b"." + body, tolerance, now)


def verify_url_signature(
    secret: str,
    url: str,
    header: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: int | None = None,
) -> int:
    """Check a checkout-URL signature (what the server does for the User API); returns `ts`."""
    return _check_ocrch(secret, header, lambda ts: f"{url}.{ts}".encode(), tolerance, now)


def hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _stamped(secret: str, stamp: int | str, body: bytes) -> str:
    """The hex HMAC over `"<stamp>.<body>"`: the message of the `t=…,v1=…` and OVGC schemes."""
    return hex_hmac(secret, f"{stamp}.".encode() + body)


def _same_hex(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("ascii", "replace"))


def sign_t_v1(secret: str, body: bytes, ts: int | None = None) -> str:
    """A `t={ts},v1={hex}` value over `ts + "." + body`: `Stablecheckout-Signature` (session
    events) and `OpenCheckout-Signature` (the OpenCheckout dialect) are this one scheme."""
    stamp = _now(ts)
    return f"t={stamp},v1={_stamped(secret, stamp, body)}"


def verify_t_v1(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    name: str = "Stablecheckout-Signature",
    tolerance: int = TOLERANCE_SECONDS,
    now: int | None = None,
) -> int:
    """Check `t=…,v1=…` (any `v1` may match: secret rotation); `name` is the header's, for the
    message. Returns the timestamp or raises ValueError."""
    if not header:
        raise ValueError(f"missing {name} header")
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = value
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise ValueError("not `t=<unix seconds>,v1=<hex>`")
    expected = _stamped(secret, timestamp, body)
    if not any(_same_hex(expected, c) for c in candidates):
        raise ValueError("signature mismatch")
    return _fresh(int(timestamp), tolerance, now)


def sign_session_webhook(secret: str, body: bytes, ts: int | None = None) -> str:
    """A `Stablecheckout-Signature` value, as the server makes one (for tests and relays)."""
    return sign_t_v1(secret, body, ts)


def verify_session_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: int | None = None,
) -> int:
    """Check `Stablecheckout-Signature: t=…,v1=…` (any `v1` may match: secret rotation)."""
    return verify_t_v1(secret, header, body, tolerance=tolerance, now=now)


def sign_ovgc(secret: str, body: bytes, ts: int | None = None) -> dict[str, str]:
    """OVGC's two headers: `X-Webhook-Timestamp` and `X-Webhook-Signature: sha256=<hex>` over
    `"<timestamp>.<body>"` (seed 001)."""
    stamp = _now(ts)
    return {
        "X-Webhook-Timestamp": str(stamp),
        "X-Webhook-Signature": f"sha256={_stamped(secret, stamp, body)}",
    }


def verify_ovgc(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: int | None = None,
) -> int:
    """Check OVGC's `X-Webhook-Timestamp` and `X-Webhook-Signature`; returns the timestamp."""
    if not signature:
        raise ValueError("missing X-Webhook-Signature header")
    if not timestamp:
        raise ValueError("missing X-Webhook-Timestamp header")
    stamp = timestamp.strip()
    scheme, _, given = signature.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        raise ValueError("X-Webhook-Signature is not `sha256=<hex>`")
    if not (stamp.isascii() and stamp.isdigit()):
        raise ValueError("X-Webhook-Timestamp is not unix seconds")
    if not _same_hex(_stamped(secret, stamp, body), given):
        raise ValueError("signature mismatch")
    return _fresh(int(stamp), tolerance, now)


SEED002_SCHEME = "HMAC-SHA256"


def sign_seed002(secret: str, body: bytes) -> str:
    """Seed 002's `Authorization` value over the (whitespace-free) body."""
    return f"{SEED002_SCHEME} Signature={hex_hmac(secret, body)}"


def verify_seed002(secret: str, authorization: str | None, body: bytes) -> None:
    """Check `Authorization: HMAC-SHA256 Signature=<hex>` over the raw body, exactly as sent.

    Seed 002 has no timestamp: nothing bounds a replay, so credit each payment once."""
    if not authorization:
        raise ValueError("missing Authorization header")
    scheme, _, rest = authorization.strip().partition(" ")
    key, _, given = rest.strip().partition("=")
    if scheme != SEED002_SCHEME or key != "Signature" or not given:
        raise ValueError("Authorization is not `HMAC-SHA256 Signature=<hex>`")
    if not _same_hex(hex_hmac(secret, body), given):
        raise ValueError("signature mismatch")
