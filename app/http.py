"""HTTP plumbing shared by every route: error rendering, body reading, the request transaction.

Errors get their status and text from `app.answers`. Ocrch routes answer them in plain text with
exact strings (api.md §0); our own routes answer JSON `{"error": {"type", "message", "param"}}`,
`type` by status (`_ERROR_TYPES`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from litestar import MediaType, Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    TooManyRequestsException,
    ValidationException,
)
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.answers import Table, answer, retry_headers
from app.config import Settings
from app.db import unit_of_work
from app.errors import (
    AppError,
    BodyNotDeserializable,
    BodyTooLarge,
    InvalidJsonBody,
    InvalidParameter,
    MalformedJson,
    NotAJsonObject,
    WrongContentType,
)
from app.jsonbody import JsonBodyError, decode_json
from app.rates.book import RateBook
from app.realtime.changes import Publisher
from app.security.limits import ConnectionSlots, MemoryLimiter, RateLimiter

log = logging.getLogger("app.http")
Db = NamedDependency[AsyncSession]
"""A handler's database session: the request's one transaction (`provide_db_session`)."""
Config = NamedDependency[Settings]
OCRCH_PREFIXES = ("/api/v1/service", "/api/v1/user", "/api/v1/admin")
M = TypeVar("M", bound=BaseModel)
_CLIENT_GONE = "client disconnected prematurely"
"""What Litestar's `Request.stream()` raises (as a 500) when the body ends in a disconnect."""

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


@dataclass
class Services:
    """What a running app holds: settings, database, publisher, rate limiter, open-socket counts.
    Stored in `app.state.services`."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    publisher: Publisher | None = None
    rates: RateBook | None = None
    """Fiat rates (`[rates]`), refreshed in the background; None without fiat pricing."""
    limiter: RateLimiter = field(default_factory=MemoryLimiter)
    sockets: ConnectionSlots = field(default_factory=ConnectionSlots)


def services_of(state: State) -> Services:
    services: Services = state.services
    return services


def is_ocrch_path(path: str) -> bool:
    return path.startswith(OCRCH_PREFIXES)


def error_response(
    request: Request[Any, Any, Any],
    status: int,
    message: str,
    param: str | None = None,
    *,
    empty: bool = False,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    if is_ocrch_path(request.url.path):
        body = b"" if empty else message
        return Response(body, status_code=status, media_type=MediaType.TEXT, headers=headers)
    error: dict[str, Any] = {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}
    if param:
        error["param"] = param
    return Response(
        {"error": error}, status_code=status, media_type=MediaType.JSON, headers=headers
    )


def error_handler(*surfaces: Table) -> Callable[[Request[Any, Any, Any], AppError], Response[Any]]:
    """The handler of our errors, for routes whose surface words some of them its own way."""

    def handle(request: Request[Any, Any, Any], exc: AppError) -> Response[Any]:
        status, text = answer(exc, *surfaces)
        return error_response(request, status, text, exc.param, headers=retry_headers(exc))

    return handle


app_error_handler = error_handler()


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, NotFoundException | MethodNotAllowedException):
        # Ocrch: unknown route 404 and wrong method 405, with empty bodies.
        return error_response(request, exc.status_code, exc.detail, empty=True)
    if isinstance(exc, ValidationException):
        first = exc.extra[0] if isinstance(exc.extra, list) and exc.extra else {}
        where = first.get("key") if isinstance(first, dict) else None
        detail = first.get("message") if isinstance(first, dict) else None
        message = f"invalid {where}: {detail}" if where and detail else "invalid request"
        return error_response(request, 400, message, param=where)
    if isinstance(exc, TooManyRequestsException):
        limits = dict(exc.headers or {})
        return error_response(request, 429, "rate limit exceeded, retry later", headers=limits)
    if exc.detail == _CLIENT_GONE:
        # The client left mid-body (or `serve` cut a slow one off, 408): nobody reads this answer.
        log.info("http.client_disconnected %s %s", request.method, request.url.path)
        return error_response(request, 408, "request timeout")
    if exc.status_code >= 500:
        log.error("http.error", exc_info=exc)
        return error_response(request, exc.status_code, "internal server error")
    return error_response(request, exc.status_code, exc.detail)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("http.unhandled %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "internal server error")


def plain_text_error(request: Request[Any, Any, Any], exc: AppError) -> Response[Any]:
    """For a page a browser follows (a payment URL): the common status and text, as plain text."""
    status, text = answer(exc)
    return Response(text, status_code=status, media_type=MediaType.TEXT)


async def read_limited_body(request: Request[Any, Any, Any], limit: int) -> bytes | None:
    """The raw body, or None once it passes `limit` bytes (the caller decides what that means)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def require_json(request: Request[Any, Any, Any]) -> None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise WrongContentType


async def read_json(
    request: Request[Any, Any, Any],
    limit: int,
    name: Callable[[tuple[str | int, ...]], str] | None = None,
) -> tuple[bytes, Any]:
    """The raw body and its JSON value through the bounded decoder. With `name`, a decoder
    complaint about one value names its parameter (`InvalidParameter`); without, it is
    `MalformedJson` like any other."""
    raw = await read_limited_body(request, limit)
    if raw is None:
        raise BodyTooLarge(limit)
    try:
        return raw, decode_json(raw)
    except JsonBodyError as exc:
        if exc.where and name is not None:
            raise InvalidParameter(name(exc.where), exc.message) from None
        raise MalformedJson(exc.message) from None


async def read_json_object(
    request: Request[Any, Any, Any],
    limit: int,
    name: Callable[[tuple[str | int, ...]], str] | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """`read_json`, refusing anything but an object."""
    raw, data = await read_json(request, limit, name)
    if not isinstance(data, dict):
        raise NotAJsonObject
    return raw, data


def json_parser(model: type[M]) -> Callable[[str], M]:
    """Parse body text into `model` through the bounded decoder (`app.jsonbody`); errors are 400."""

    def parse(text: str) -> M:
        try:
            data = decode_json(text)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return model.model_validate(data)
        except (ValueError, ValidationError):
            raise InvalidJsonBody from None

    return parse


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: commit after the handler, then publish what it queued."""
    services = services_of(state)
    async with unit_of_work(services.sessionmaker, services.publisher) as session:
        yield session


def provide_settings(state: State) -> Settings:
    return services_of(state).settings


async def read_json_body(request: Request[Any, Any, Any], model: type[M], limit: int) -> M:
    """A JSON body with the rejections (and texts) of Ocrch's framework, axum's `Json` extractor."""
    require_json(request)
    _, data = await read_json(request, limit)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BodyNotDeserializable(where, first["msg"]) from None
