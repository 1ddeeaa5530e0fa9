"""Webhook formats: how each integration's outbox rows are built, rendered and signed.

A row carries its `format`; the sender looks the format up here and never asks what kind of
event it is. Adding a webhook format (a new API dialect) is one more entry in `FORMATS` and a
subscriber in `app.webhooks.service`: orders, transfers and the matcher do not change.

    ocrch             Ocrch `order_status_changed` / `unknown_transfer_received` (api.md §5):
                      compact JSON with `timestamp` stamped per attempt, `Ocrch-Signature`
    checkout_session  the session's event object as stored (it has its own `created`),
                      `Stablecheckout-Signature: t=…,v1=…` (app.sessions.signing)
    epusdt, epay      MD5-signed callbacks of those dialects (`app.dialects.notify`): their own
                      method, URL and acknowledgement rule, so they are `PROTOCOLS` entries
    opencheckout      an OpenCheckout session event, `OpenCheckout-Signature` (app.dialects)
    ovgc              an OVGC `payment.*` event, `X-Webhook-Signature: sha256=…`
    (`[webhooks].format = "seed002"` renders `ocrch` order rows as seed 002's callback)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.dialects import signing as dialect_signing
from app.security.signatures import sign_body
from app.sessions import signing as session_signing

OCRCH = "ocrch"
CHECKOUT_SESSION = "checkout_session"
OPENCHECKOUT = "opencheckout"
OVGC = "ovgc"


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
    if (
        settings.webhooks.format == "seed002"
        and payload.get("event_type") == "order_status_changed"
    ):
        return dialect_signing.seed002(settings.merchant.secret, payload)
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


def _dialect_secret(settings: Settings, name: str) -> str:
    secret: str | None = getattr(settings.dialects, name).webhook_secret
    if not secret:
        raise CannotSign(f"[dialects.{name}].webhook_secret is not configured")
    return secret


def opencheckout(
    settings: Settings, payload: dict[str, Any], timestamp: int
) -> tuple[bytes, dict[str, str]]:
    return dialect_signing.opencheckout(_dialect_secret(settings, OPENCHECKOUT), payload, timestamp)


def ovgc(
    settings: Settings, payload: dict[str, Any], timestamp: int
) -> tuple[bytes, dict[str, str]]:
    return dialect_signing.ovgc(_dialect_secret(settings, OVGC), payload, timestamp)


FORMATS: dict[str, Render] = {
    OCRCH: ocrch,
    CHECKOUT_SESSION: checkout_session,
    OPENCHECKOUT: opencheckout,
    OVGC: ovgc,
}


Attempt = tuple[str, str, bytes | None, dict[str, str]]
"""Method, URL, body and headers of one delivery attempt."""


@dataclass(frozen=True, slots=True)
class Protocol:
    """A format that is not "POST the signed JSON, any 2xx is delivered": `request` gives the
    method, URL, body and headers of an attempt; `acked(status, body head)` says if it landed."""

    request: Callable[
        [Settings, str, dict[str, Any]], tuple[str, str, bytes | None, dict[str, str]]
    ]
    acked: Callable[[int, bytes], bool]


def _epusdt(
    settings: Settings, target: str, payload: dict[str, Any]
) -> tuple[str, str, bytes | None, dict[str, str]]:
    from app.dialects import notify

    if not settings.epusdt.token:
        raise CannotSign("[epusdt].token is not configured")
    return (
        "POST",
        target,
        notify.epusdt_body(payload, settings.epusdt.token),
        {"Content-Type": "application/json"},
    )


def _epay(
    settings: Settings, target: str, payload: dict[str, Any]
) -> tuple[str, str, bytes | None, dict[str, str]]:
    from app.dialects import notify

    if not settings.epay.key:
        raise CannotSign("[epay].key is not configured")
    return "GET", notify.epay_url(settings, target, payload), None, {}


def _acked(name: str) -> Callable[[int, bytes], bool]:
    def acked(status: int, body: bytes) -> bool:
        from app.dialects import notify

        return bool(getattr(notify, name)(status, body))

    return acked


PROTOCOLS: dict[str, Protocol] = {
    "epusdt": Protocol(_epusdt, _acked("epusdt_acked")),
    "epay": Protocol(_epay, _acked("epay_acked")),
}
