"""Ocrch HMAC signatures (api.md §1.1-1.3, §1.5): body signing, URL signing, header parsing.

The check order and the exact texts are the wire contract: an Ocrch client sees the same status
and body for the same mistake. Beyond Ocrch we also accept padded base64 (docs-built clients send
it) and, by default, refuse timestamps dated far in the future.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from app.errors import (
    AppError,
    MalformedSignatureHeader,
    MalformedSignedUrlHeaders,
    OriginNotAllowed,
    SignatureExpired,
    SignatureMismatch,
    SignatureMissing,
    SignatureNotBase64,
    SignedUrlMissing,
    UnreadableBody,
)

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
_TS = re.compile(r"^[+-]?[0-9]+$")
_B64 = re.compile(r"^[A-Za-z0-9+/]*$")
T = TypeVar("T")


class SignatureEncodingError(ValueError):
    pass


def b64_nopad(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def decode_b64(text: str) -> bytes:
    """Strict standard-alphabet base64, unpadded or correctly padded, canonical trailing bits."""
    stripped = text[:-2] if text.endswith("==") else text[:-1] if text.endswith("=") else text
    if text != stripped and len(text) % 4:
        raise SignatureEncodingError("bad padding")
    if not _B64.match(stripped) or len(stripped) % 4 == 1:
        raise SignatureEncodingError("bad base64")
    try:
        raw = base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except binascii.Error as exc:
        raise SignatureEncodingError(str(exc)) from None
    if b64_nopad(raw) != stripped:
        raise SignatureEncodingError("non-canonical trailing bits")
    return raw


def hmac_sha256(key: str, message: bytes) -> bytes:
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).digest()


def sign_body(key: str, body: bytes, ts: int) -> str:
    """`Ocrch-Signature` value for a Service API request or an outbound webhook."""
    return f"{ts}.{b64_nopad(hmac_sha256(key, str(ts).encode() + b'.' + body))}"


def sign_url(key: str, url: str, ts: int) -> str:
    """`Ocrch-Signature` value for a signed checkout URL (URL first, then the timestamp)."""
    return f"{ts}.{b64_nopad(hmac_sha256(key, f'{url}.{ts}'.encode()))}"


def is_visible_ascii(value: str) -> bool:
    return all(0x20 <= ord(ch) < 0x7F or ch == "\t" for ch in value)


@dataclass(frozen=True, slots=True)
class ParsedSignature:
    ts: int
    raw: bytes


class _FormatError(ValueError):
    pass


def _split_header(value: str) -> tuple[int, str]:
    ts_text, dot, sig = value.partition(".")
    if not dot or not _TS.match(ts_text):
        raise _FormatError
    ts = int(ts_text)
    if not I64_MIN <= ts <= I64_MAX:
        raise _FormatError
    return ts, sig


@dataclass(frozen=True, slots=True)
class Freshness:
    max_age: int = 300
    max_future: int | None = 300

    def is_fresh(self, ts: int, now: int) -> bool:
        if now - ts > self.max_age:
            return False
        return self.max_future is None or ts - now <= self.max_future


def _visible_header(header: str | None, malformed: type[AppError]) -> str:
    """Rows 1 and 2 of both tables: the `Ocrch-Signature` header is there, in visible ASCII."""
    if header is None:
        raise SignatureMissing
    if not is_visible_ascii(header):
        raise malformed
    return header


def _timestamp_and_mac(header: str, malformed: type[AppError]) -> tuple[int, bytes]:
    """`{ts}.{base64}` → (ts, the raw HMAC): the format is checked before the encoding."""
    try:
        ts, sig = _split_header(header)
    except _FormatError:
        raise malformed from None
    try:
        return ts, decode_b64(sig)
    except SignatureEncodingError:
        raise SignatureNotBase64 from None


def verify_body_signature(
    header: str | None,
    body: bytes | None,
    key: str,
    freshness: Freshness,
    *,
    parse_body: Callable[[str], T],
    now: int | None = None,
) -> T:
    """Service API checks in Ocrch's order (api.md §1.2); returns the parsed body.

    `body` is None when the request body exceeded the size limit.
    `parse_body` runs between the encoding check and the HMAC check, as in Ocrch, and raises
    `InvalidJsonBody` when the body is not the expected request type.
    """
    header = _visible_header(header, MalformedSignatureHeader)
    try:
        if body is None:
            raise UnicodeDecodeError("utf-8", b"", 0, 1, "body too large")
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableBody from None
    ts, raw = _timestamp_and_mac(header, MalformedSignatureHeader)
    parsed = parse_body(text)
    expected = hmac_sha256(key, str(ts).encode() + b"." + body)
    now = int(time.time()) if now is None else now
    if not hmac.compare_digest(expected, raw) or not freshness.is_fresh(ts, now):
        raise SignatureMismatch
    return parsed


def verify_url_signature(
    signature_header: str | None,
    signed_url: str | None,
    key: str,
    allowed_origins: list[str],
    freshness: Freshness,
    *,
    now: int | None = None,
) -> str:
    """User API checks in Ocrch's order (api.md §1.3); returns the signed URL."""
    header = _visible_header(signature_header, MalformedSignedUrlHeaders)
    ts, raw = _timestamp_and_mac(header, MalformedSignedUrlHeaders)
    if signed_url is None:
        raise SignedUrlMissing
    if not is_visible_ascii(signed_url):
        raise MalformedSignedUrlHeaders
    expected = hmac_sha256(key, f"{signed_url}.{ts}".encode())
    if not hmac.compare_digest(expected, raw):
        raise SignatureMismatch
    now = int(time.time()) if now is None else now
    if not freshness.is_fresh(ts, now):
        raise SignatureExpired
    origin = url_origin(signed_url)
    if origin is None:
        raise MalformedSignedUrlHeaders
    if origin not in allowed_origins:
        raise OriginNotAllowed
    return signed_url


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}


_SPECIAL_SCHEME = re.compile(r"^(?:https?|wss?|ftp|file):", re.IGNORECASE)


def whatwg_prepare(url: str) -> str:
    """The string a browser's URL parser reads: C0 controls and spaces trimmed at both ends,
    tabs and newlines removed, and `\\` read as `/` in special schemes (WHATWG URL §4.4).
    Without this, `https://evil.com\\@shop.example` has host `shop.example` to `urlsplit` and
    `evil.com` to every browser."""
    url = url.strip("".join(map(chr, range(0x21)))).translate({9: None, 10: None, 13: None})
    return url.replace("\\", "/") if _SPECIAL_SCHEME.match(url) else url


def url_origin(url: str) -> str | None:
    """WHATWG-style serialized origin of `url`; "null" for opaque schemes; None if unparseable."""
    try:
        parts = urlsplit(whatwg_prepare(url))
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme or not re.match(r"^[a-z][a-z0-9+.-]*$", scheme):
        return None
    if scheme not in _DEFAULT_PORTS:
        return "null"
    host = parts.hostname
    if not host:
        return None
    try:
        host = host.encode("ascii").decode("idna") if "xn--" in host else host
    except UnicodeError:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
