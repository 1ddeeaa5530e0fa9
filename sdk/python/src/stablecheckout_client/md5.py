"""Epusdt and Epay notify callbacks: the MD5 signatures those shop plugins speak
(shared/epusdt.md §1.2, §2.2), verified and typed.

The server sends them only for orders made through its Epusdt or Epay dialect, only once paid, to
the `notify_url` the order was created with: Epusdt POSTs JSON with a `signature` member, Epay
GETs `notify_url?…&sign=…&sign_type=MD5`. MD5 over the parameters with the token appended is
weaker than the HMAC-SHA256 of the other formats: there is no timestamp and no nonce, so a
captured callback can be replayed; credit each order once. Comparisons are constant-time.
Answer HTTP 200 with `EPUSDT_ACK` / `EPAY_ACK`; any other answer is retried.

`epusdt_sign` and `epay_sign` sign requests to those dialects' APIs the same way.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from stablecheckout_client.errors import WebhookVerificationError
from stablecheckout_client.models import EpayNotify, EpusdtNotify
from stablecheckout_client.webhooks import json_object, required

EPUSDT_ACK = "ok"
"""The body that tells the server an Epusdt callback landed (with HTTP 200)."""
EPAY_ACK = "success"
"""The body that tells the server an Epay callback landed (with HTTP 200)."""


def render_number(value: Decimal | float | int) -> str:
    """A JSON number as Epusdt signs it: integers in decimal; other numbers as the shortest
    round-trip decimal of the double, without exponent or trailing `.0` (`72.0` → `72`,
    `1e-05` → `0.00001`)."""
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _render(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return render_number(value)
    if isinstance(value, str):
        return value or None
    raise ValueError(f"member {key!r} is an array or object, which Epusdt cannot sign")


def epusdt_preimage(params: Mapping[str, Any]) -> str:
    """`k=v&…` over the members except `signature`, sorted by key (byte order), members that are
    `null` or `""` left out; the token is appended to this."""
    pairs = [
        (key.encode(), f"{key}={text}")
        for key, value in params.items()
        if key != "signature" and (text := _render(key, value)) is not None
    ]
    return "&".join(item for _, item in sorted(pairs))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("ascii", "replace"))


def epusdt_sign(params: Mapping[str, Any], token: str) -> str:
    """The `signature` of an Epusdt request or callback (`[epusdt].token`)."""
    return _md5(epusdt_preimage(params) + token)


def epay_preimage(params: Iterable[tuple[str, str]]) -> str:
    """Every parameter except `sign`, `sign_type` and empty ones, sorted, as decoded values."""
    kept = sorted((k, v) for k, v in params if k not in ("sign", "sign_type") and v != "")
    return "&".join(f"{k}={v}" for k, v in kept)


def epay_sign(params: Mapping[str, str] | Iterable[tuple[str, str]], key: str) -> str:
    """The `sign` of an Epay request or callback (`[epay].key`)."""
    pairs = params.items() if isinstance(params, Mapping) else params
    return _md5(epay_preimage(pairs) + key)


def verify_epusdt_notify(token: str, body: bytes, *, event_id: str | None = None) -> EpusdtNotify:
    """Verify an Epusdt callback (the raw JSON body) with `[epusdt].token` and parse it."""
    data = json_object(body, parse_float=Decimal)
    given = data.get("signature")
    if not isinstance(given, str) or not given:
        raise WebhookVerificationError("missing signature member")
    try:
        expected = epusdt_sign(data, token)
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from None
    if not _same(expected, given):
        raise WebhookVerificationError("signature mismatch")
    amount, actual = data.get("amount"), data.get("actual_amount")
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal | str):
        raise WebhookVerificationError("webhook: field 'amount' is missing or not a number")
    if isinstance(actual, bool) or not isinstance(actual, int | Decimal | str):
        raise WebhookVerificationError("webhook: field 'actual_amount' is missing")
    return EpusdtNotify(
        trade_id=required(data, "trade_id", str),
        order_id=required(data, "order_id", str),
        amount=amount if isinstance(amount, str) else render_number(amount),
        actual_amount=actual if isinstance(actual, str) else render_number(actual),
        token=required(data, "token", str),
        block_transaction_id=required(data, "block_transaction_id", str),
        status=required(data, "status", int),
        event_id=event_id,
    )


Query = str | Mapping[str, str] | Iterable[tuple[str, str]]
"""An Epay callback's query: the full URL, the raw query string, or its decoded parameters."""


def _query_pairs(query: Query) -> list[tuple[str, str]]:
    if isinstance(query, Mapping):
        return [(str(k), str(v)) for k, v in query.items()]
    if not isinstance(query, str):
        return [(str(k), str(v)) for k, v in query]
    return parse_qsl(query.partition("?")[2] if "?" in query else query, keep_blank_values=True)


def verify_epay_notify(
    key: str,
    query: Query,
    *,
    pid: str | None = None,
    event_id: str | None = None,
) -> EpayNotify:
    """Verify an Epay callback with `[epay].key` and parse it. `query` is the request's query:
    the URL (full, or path and query as a server sees it), the raw query string, or the decoded
    parameters (a mapping or pairs). With
    `pid`, a callback for another merchant id is refused too."""
    pairs = _query_pairs(query)
    params = dict(pairs)
    if len(params) != len(pairs):
        raise WebhookVerificationError("a parameter is given twice")
    given = params.get("sign", "")
    if not given:
        raise WebhookVerificationError("missing sign parameter")
    if params.get("sign_type", "MD5").upper() != "MD5":
        raise WebhookVerificationError("sign_type is not MD5")
    if not _same(epay_sign(pairs, key), given):
        raise WebhookVerificationError("signature mismatch")
    if pid is not None and params.get("pid") != pid:
        raise WebhookVerificationError("the callback is for another pid")
    return EpayNotify(
        pid=required(params, "pid", str),
        trade_no=required(params, "trade_no", str),
        out_trade_no=required(params, "out_trade_no", str),
        type=params.get("type", ""),
        name=params.get("name", ""),
        money=required(params, "money", str),
        trade_status=required(params, "trade_status", str),
        param=params.get("param") or None,
        event_id=event_id,
    )
