"""Authenticating Service API requests: raw body, `Ocrch-Signature`, then the typed body."""

from __future__ import annotations

from typing import Any, TypeVar

from litestar import Request
from pydantic import BaseModel

from app.config import Settings
from app.http import json_parser, read_limited_body
from app.security.signatures import Freshness, verify_body_signature

M = TypeVar("M", bound=BaseModel)


def freshness(settings: Settings) -> Freshness:
    future = settings.security.signature_max_future_seconds
    return Freshness(settings.security.signature_max_age_seconds, None if future < 0 else future)


async def signed_request(
    request: Request[Any, Any, Any], settings: Settings, model: type[M]
) -> tuple[M, bytes]:
    """Verify a signed Service API request; returns the parsed body and its raw bytes."""
    body = await read_limited_body(request, settings.security.max_body_bytes)
    parsed = verify_body_signature(
        request.headers.get("ocrch-signature"),
        body,
        settings.merchant.secret,
        freshness(settings),
        parse_body=json_parser(model),
    )
    assert body is not None
    return parsed, body
