"""Authenticating User API calls: a merchant-signed checkout URL (api.md §1.3), bound to its order.

Browsers cannot set headers on a WebSocket, so the socket also accepts the same two values as the
query parameters `signed_url` and `signature`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.config import Settings
from app.errors import InvalidOrderId, SignedUrlForAnotherOrder
from app.http import services_of
from app.security.service_auth import freshness
from app.security.signatures import url_origin, verify_url_signature


def authenticate_user(
    settings: Settings,
    headers: Mapping[str, str],
    path_order_id: str | None,
    query: Mapping[str, str] | None = None,
    *,
    base_url: str | None = None,
) -> str:
    """Check the signed URL in Ocrch's order, then that it names this order; returns the URL.

    `base_url` is the request's: with it, our own hosted page (`<own origin>/checkout/`, where
    checkout-session links lead) counts as an allowed origin without being listed.
    """
    signature = headers.get("ocrch-signature")
    signed_url = headers.get("ocrch-signed-url")
    if signature is None and signed_url is None and query is not None:
        signature, signed_url = query.get("signature"), query.get("signed_url")
    url = verify_url_signature(
        signature,
        signed_url,
        settings.merchant.secret,
        allowed_origins(settings, signed_url, base_url),
        freshness(settings),
    )
    if path_order_id is not None and settings.security.signed_url_binds_order:
        _check_binding(url, path_order_id)
    return url


def own_origin(settings: Settings) -> str | None:
    """Where this server's hosted page lives: `[server].public_url`, else the address `serve`
    listens on. Never the request's Host header: a client chooses that one."""
    return url_origin(settings.server.public_url or f"http://{settings.server.listen}")


def allowed_origins(settings: Settings, signed_url: str | None, base_url: str | None) -> list[str]:
    """`[merchant].allowed_origins`, plus our own origin for a signed URL of our hosted page."""
    listed = settings.merchant.allowed_origins
    if base_url is None or signed_url is None:
        return listed
    origin = own_origin(settings)
    try:
        path = urlsplit(signed_url).path
    except ValueError:
        return listed
    if origin is None or path != "/checkout/" or url_origin(signed_url) != origin:
        return listed
    return [*listed, origin]


def _check_binding(url: str, path_order_id: str) -> None:
    try:
        path_id = uuid.UUID(path_order_id)
    except ValueError:
        return  # the path itself is invalid; parsing it answers 400 next
    named = parse_qs(urlsplit(url).query).get("order_id", [])
    try:
        if len(named) == 1 and uuid.UUID(named[0]) == path_id:
            return
    except ValueError:
        pass
    raise SignedUrlForAnotherOrder


def parse_order_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidOrderId from None


def user_signature_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Litestar guard: runs before path and body parsing, as Ocrch's middleware does."""
    settings = services_of(connection.app.state).settings
    authenticate_user(
        settings,
        connection.headers,
        connection.path_params.get("order_id"),
        base_url=str(connection.base_url),
    )
