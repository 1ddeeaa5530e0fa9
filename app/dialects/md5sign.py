"""The MD5 signature schemes of Epusdt and Epay (shared/epusdt.md §1.2, §2.2).

MD5 with a shared secret appended is what those shop plugins speak, so it lives here and nowhere
else; the Ocrch and session APIs use HMAC-SHA256. Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any


class Unsignable(ValueError):
    """A member the scheme cannot render (an array or object): the request is refused."""


def render_number(value: Decimal | float, *, literal: bool = False) -> str:
    """A JSON number as PHP and BE's clients sign it: shortest round-trip decimal, no exponent,
    no trailing `.0` (`72.0` → `72`, `1e-05` → `0.00001`); `literal`: the text as received."""
    if literal:
        return str(value)
    exact = Decimal(repr(float(value)))
    text = format(exact, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _render(value: Any, literal: bool) -> str | None:
    """None: the member is left out of the pre-image."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal | float):
        return render_number(value, literal=literal)
    if isinstance(value, str):
        return value or None
    raise Unsignable("arrays and objects cannot be signed")


def epusdt_preimage(
    params: Mapping[str, Any], *, literal: bool = False, drop_zero: bool = False
) -> str:
    """`k=v&…` over the members except `signature`, sorted by key (byte order), nulls and empty
    strings left out (`drop_zero`: also `0`, `false`, `"0"`, as PHP 7 and WHMCS do)."""
    pairs: list[tuple[bytes, str]] = []
    for key, value in params.items():
        if key == "signature":
            continue
        if drop_zero and (value is False or value == 0 or value == "0"):
            continue
        text = _render(value, literal)
        if text is not None:
            pairs.append((key.encode(), f"{key}={text}"))
    return "&".join(item for _, item in sorted(pairs))


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def epusdt_sign(params: Mapping[str, Any], token: str) -> str:
    return md5_hex(epusdt_preimage(params) + token)


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.lower().encode())


def epusdt_verify(params: Mapping[str, Any], token: str) -> bool:
    """The canonical form first; then the tolerated variants (§1.2): numbers as their literal text,
    and zero-like members dropped. Raises `Unsignable` for arrays and objects."""
    given = params.get("signature")
    if not isinstance(given, str) or not given:
        return False
    ok = False
    for literal, drop_zero in itertools.product((False, True), (False, True)):
        ok |= _same(
            md5_hex(epusdt_preimage(params, literal=literal, drop_zero=drop_zero) + token), given
        )
    return ok


def epay_preimage(params: Iterable[tuple[str, str]]) -> str:
    """Every received parameter except `sign`, `sign_type` and empty values, sorted by key, as
    decoded raw values (never a fixed list: go-epay adds `device`)."""
    kept = sorted((k, v) for k, v in params if k not in ("sign", "sign_type") and v != "")
    return "&".join(f"{k}={v}" for k, v in kept)


def epay_sign(params: Mapping[str, str], key: str) -> str:
    return md5_hex(epay_preimage(params.items()) + key)


def epay_verify(params: Mapping[str, str], key: str) -> bool:
    given = params.get("sign", "")
    return bool(given) and _same(epay_sign(params, key), given)
