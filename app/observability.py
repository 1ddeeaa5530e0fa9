"""What an operator watches: Prometheus metrics, request ids, structured logs.

Metrics that describe the shop (orders by status, webhook backlog, how fresh each chain's scan is)
are read from the database at scrape time, so every replica reports the same truth. Metrics that
describe a process's own work (detection latency, RPC errors, webhook attempts, HTTP requests)
are counted where that work happens.
"""

from __future__ import annotations

import contextvars
import hmac
import ipaddress
import json
import logging
import random
import re
import time
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from litestar import MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import MetricsLoopbackOnly, MetricsTokenRequired
from app.http import services_of

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

HTTP_REQUESTS = Counter(
    "stablecheckout_http_requests_total", "HTTP requests answered", ["method", "status"]
)
HTTP_LATENCY = Histogram(
    "stablecheckout_http_request_seconds",
    "HTTP request duration",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
ORDERS = Gauge("stablecheckout_orders", "Orders by status", ["status"])
WEBHOOK_BACKLOG = Gauge(
    "stablecheckout_webhook_events", "Webhook events by delivery status", ["status"]
)
WEBHOOK_ATTEMPTS = Counter(
    "stablecheckout_webhook_attempts_total",
    "Webhook delivery attempts by this process",
    ["outcome"],
)
CHAIN_SCANNED = Gauge("stablecheckout_chain_scanned_block", "Last block scanned", ["blockchain"])
CHAIN_SCAN_AGE = Gauge(
    "stablecheckout_chain_scan_age_seconds",
    "Seconds since the chain's cursor last moved",
    ["blockchain"],
)
WATCHER_HEAD = Gauge(
    "stablecheckout_watcher_head_block", "Chain head seen by this process", ["blockchain"]
)
WATCHER_LAG = Gauge(
    "stablecheckout_watcher_lag_blocks",
    "Blocks between the chain head and the last scanned block",
    ["blockchain"],
)
RPC_ERRORS = Counter(
    "stablecheckout_rpc_errors_total", "Chain node errors seen by watchers", ["blockchain"]
)
DETECTION_LATENCY = Histogram(
    "stablecheckout_detection_latency_seconds",
    "From a transfer's block time to its detection by the watcher",
    ["blockchain"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
RATE_AGE = Gauge(
    "stablecheckout_rate_age_seconds",
    "Seconds since the newest answer for a fiat pair (+Inf: none yet; 0: fixed or pegged)",
    ["pair"],
)
RATE_FRESH = Gauge("stablecheckout_rate_fresh", "1 if the pair can be quoted now, else 0", ["pair"])
PAID = Counter(
    "stablecheckout_orders_paid_total", "Orders paid by the matcher in this process", ["blockchain"]
)


async def _count_by(
    session: AsyncSession, column: Any, values: Iterable[StrEnum], gauge: Gauge
) -> None:
    """Set `gauge` per value of `column` (0 for a value no row has)."""
    rows = await session.execute(sa.select(column, sa.func.count()).group_by(column))
    counts: dict[str, int] = dict(rows.tuples().all())
    for value in values:
        gauge.labels(value.value).set(counts.get(value.value, 0))


async def refresh_from_database(state: State) -> None:
    services = services_of(state)
    async with services.sessionmaker() as session:
        from app.orders.models import Order, OrderStatus
        from app.transfers.models import ChainCursor
        from app.webhooks.models import DeliveryStatus, WebhookEvent

        await _count_by(session, Order.status, OrderStatus, ORDERS)
        await _count_by(session, WebhookEvent.status, DeliveryStatus, WEBHOOK_BACKLOG)
        now = time.time()
        for cursor in await session.scalars(sa.select(ChainCursor)):
            CHAIN_SCANNED.labels(cursor.blockchain).set(cursor.block_number)
            CHAIN_SCAN_AGE.labels(cursor.blockchain).set(now - cursor.updated_at.timestamp())


def refresh_rate_metrics(state: State) -> None:
    book = services_of(state).rates
    if book is None:
        return
    for pair, item in book.status().items():
        age = item["age_seconds"]
        RATE_AGE.labels(pair).set(float("inf") if age is None else age)
        RATE_FRESH.labels(pair).set(1 if item["status"] == "ok" else 0)


@get(
    "/metrics",
    tags=["Operations"],
    summary="Prometheus metrics",
    include_in_schema=True,
    media_type=MediaType.TEXT,
)
async def metrics(state: State, request: Request[Any, Any, Any]) -> Response[bytes]:
    authorize_scrape(services_of(state).settings.metrics.token, request)
    await refresh_from_database(state)
    refresh_rate_metrics(state)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def authorize_scrape(token: str | None, request: Request[Any, Any, Any]) -> None:
    """`[metrics].token` set: `Authorization: Bearer <token>`. Unset: only a loopback peer that
    no proxy speaks for (a local proxy would otherwise make every visitor look local)."""
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise MetricsTokenRequired
        return
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or any(name in request.headers for name in _FORWARDING_HEADERS):
        raise MetricsLoopbackOnly


CONTEXT_DONE = "stablecheckout.context_done"
"""Scope key: an outer `RequestContextMiddleware` already gave this request its id, counts and
log line (`app.orders.fast_lane` hands some requests back to the app), so an inner one passes."""
_HTTP_LOG = logging.getLogger("app.http")
_QUIET_PATHS = ("/health", "/metrics")


def _new_request_id() -> str:
    """32 hex digits, like `uuid4().hex`: an id to find a request's lines, not a secret, so the
    process's PRNG instead of a system call per request."""
    return f"{random.getrandbits(128):032x}"


class RequestContextMiddleware:
    """Gives every request an id (the caller's `X-Request-Id`, or a new one), echoes it, logs
    one `http.request` line, and counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or CONTEXT_DONE in scope:
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")  # the last one, as dict() of the headers did
        request_id = incoming[:64] if incoming.isprintable() and incoming else _new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        method = str(scope.get("method", "GET"))
        echo = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), echo]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(method, str(status)).inc()
            HTTP_LATENCY.observe(elapsed)
            if scope["path"] not in _QUIET_PATHS:
                _HTTP_LOG.info(
                    "http.request",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)


_QUERY = re.compile(r"(/[^\s?\"'<>]*)\?[^\s\"'<>]*")
_SECRET_HEADER = re.compile(
    r"(?i)\b(ocrch-signature|ocrch-signed-url|authorization|cookie|stablecheckout-signature)"
    r"(\s*[:=]\s*)[^\r\n]+"
)


def redact(text: str) -> str:
    """Query strings (a signed URL and its signature ride there) and credential headers."""
    return _SECRET_HEADER.sub(r"\1\2[redacted]", _QUERY.sub(r"\1?[redacted]", text))


class RedactFilter(logging.Filter):
    """On the one handler, so every logger (uvicorn's and websockets' too) at every level."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI copy of the message (its lines come through here)
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, request id, and any `extra`."""

    _second = -1
    _stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # strftime once a second, not once a line (one per request)
            self._second, self._stamp = second, self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        entry: dict[str, Any] = {
            "time": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactFilter())
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    for noisy in ("alembic", "web3", "httpx", "websockets", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
