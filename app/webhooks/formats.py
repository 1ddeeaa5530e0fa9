"""Webhook formats: how each integration's outbox rows are built, rendered and signed.

A row carries its `format`; the sender looks the format up here and never asks what kind of
event it is. Adding a webhook format (a new API dialect) is one more entry in `FORMATS` and a
subscriber in `app.webhooks.service`: orders, transfers and the matcher do not change.

    ocrch             Ocrch `order_status_changed` / `unknown_transfer_received` (api.md §5):
                      compact JSON with `timestamp` stamped per attempt, `Ocrch-Signature`
    checkout_session  the session's event object as stored (it has its own `created`),
                      `Stablecheckout-Signature: t=…,v1=…` (app.sessions.signing)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from app.config import Settings
from app.security.signatures import sign_body
from app.sessions import signing as session_signing

OCRCH = "ocrch"
CHECKOUT_SESSION = "checkout_session"


class CannotSign(Exception):
    """The row cannot be signed as its format requires (e.g. its secret is not configured): the
    attempt fails with this message, and is retried like any failed delivery."""


Render = Callable[[Settings, dict[str, Any], int], tuple[bytes, dict[str, str]]]


def request_body(payload: dict[str, Any], timestamp: int) -> bytes:
    """Compact JSON, fields in Ocrch's order, `timestamp` last (api.md §5)."""
    return json.dumps(
        {**payload, "timestamp": timestamp}, separators=(",", ":"), ensure_ascii=False
    ).encode()


def ocrch(
    settings: Settings, payload: dict[str, Any], timestamp: int
) -> tuple[bytes, dict[str, str]]:
    body = request_body(payload, timestamp)
    return body, {"Ocrch-Signature": sign_body(settings.merchant.secret, body, timestamp)}


def checkout_session(
    settings: Settings, payload: dict[str, Any], timestamp: int
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        key = session_signing.webhook_key(settings)
    except session_signing.NoWebhookSecret as exc:
        raise CannotSign(str(exc)) from None
    return body, {session_signing.HEADER: session_signing.sign(key, body, timestamp)}


FORMATS: dict[str, Render] = {OCRCH: ocrch, CHECKOUT_SESSION: checkout_session}
