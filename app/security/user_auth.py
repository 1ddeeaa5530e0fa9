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
from app.errors import BadRequest, Forbidden
from app.http import services_of
from app.security.service_auth import freshness
from app.security.signatures import verify_url_signature


def authenticate_user(
    settings: Settings,
    headers: Mapping[str, str],
    path_order_id: str | None,
    query: Mapping[str, str] | None = None,
) -> str:
    """Check the signed URL in Ocrch's order, then that it names this order; returns the URL."""
    signature = headers.get("ocrch-signature")
    signed_url = headers.get("ocrch-signed-url")
    if signature is None and signed_url is None and query is not None:
        signature, signed_url = query.get("signature"), query.get("signed_url")
    url = verify_url_signature(
        signature,
        signed_url,
        settings.merchant.secret,
        settings.merchant.allowed_origins,
        freshness(settings),
    )
    if path_order_id is not None and settings.security.signed_url_binds_order:
        _check_binding(url, path_order_id)
    return url


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
    raise Forbidden("signed url does not match order")


def parse_order_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadRequest("Invalid URL: order_id is not a UUID") from None


def user_signature_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Litestar guard: runs before path and body parsing, as Ocrch's middleware does."""
    settings = services_of(connection.app.state).settings
    authenticate_user(settings, connection.headers, connection.path_params.get("order_id"))
