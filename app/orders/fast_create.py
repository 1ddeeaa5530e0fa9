"""The hot path of `POST /api/v1/service/orders` on PostgreSQL: the minimum per order.

Why it exists: through the ORM a create cost ≈ 1.25 ms of CPU (unit of work, pool pre-ping,
BEGIN/COMMIT round trips, per-request dependency injection; docs/benchmarks.md). Here a request
reads the raw body, checks the signature in Ocrch's order (the same `verify_body_signature`, so
the error order and texts are those of every other signed route), validates with the same rules as
`app.orders.service`, builds its 201 body in Python (the order id and times are chosen here), and
hands one row to the `GroupWriter`.

The writer is a group commit: rows that arrive while a write is in flight go together in the next
statement, one `INSERT … SELECT FROM unnest(…)` (prepared once, any batch size) that also inserts
the `Idempotency-Key` rows in a CTE. Each statement is its own implicit transaction, so a batch
costs one round trip and one commit. Under no load a batch is one row and nothing waits.

A batch that fails for a data reason is split: every row is retried alone, so only the offender
gets the error. A lost connection (PostgreSQL restarted, a backend killed) is retried on a fresh
one instead of pinging every connection before use; a retry cannot create a second order because
the id is fixed before the first attempt (`ON CONFLICT (id) DO NOTHING`).

A key that is already live (or a batch-mate with the same key) is not written here: the request
falls back to `service.create_order_response`, which replays the stored answer or answers 409.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db import unit_of_work, utcnow
from app.errors import DatabaseUnavailable
from app.http import Services, json_parser, read_limited_body
from app.idempotency import IDEMPOTENCY_TTL, StoredResponse, check_idempotency_key
from app.ids import new_id
from app.orders import service
from app.orders.models import OrderStatus
from app.orders.receipts import receipt_fields
from app.orders.schemas import CreateOrderRequest, OrderResponse
from app.security.service_auth import freshness
from app.security.signatures import Freshness, verify_body_signature

log = logging.getLogger("app.orders.fast_create")

MAX_BATCH = 128
"""Rows per statement; more concurrent creates wait for the next statement."""
MAX_WRITERS = 2
"""Statements in flight at once: one being answered while the next one fills."""
POOL_SIZE = 4
RECONNECT_SECONDS = 5.0
"""How long a write keeps retrying on fresh connections while PostgreSQL is unreachable."""

_INSERT = """
WITH src AS (
  SELECT * FROM unnest(
    $1::uuid[], $2::text[], $3::numeric[], $4::int2[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::json[], $13::timestamptz[],
    $14::timestamptz[], $15::text[], $16::text[], $17::text[]
  ) AS t(id, merchant_order_id, amount_units, amount_scale, currency, webhook_url, success_url,
         cancel_url, blockchain, stablecoin, expecting_wallet_address, metadata, created_at,
         expires_at, key_hash, request_hash, response_body)
), keys AS (
  INSERT INTO idempotency_keys
    (key_hash, request_hash, response_status, response_body, created_at, expires_at)
  SELECT key_hash, request_hash, 201, response_body, created_at, $18::timestamptz
  FROM src WHERE key_hash IS NOT NULL
  ON CONFLICT (key_hash) DO UPDATE SET
    request_hash = EXCLUDED.request_hash, response_status = EXCLUDED.response_status,
    response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at,
    expires_at = EXCLUDED.expires_at
  WHERE idempotency_keys.expires_at <= EXCLUDED.created_at
  RETURNING key_hash
)
INSERT INTO orders
  (id, merchant_order_id, amount_units, amount_scale, currency, status, webhook_url, success_url,
   cancel_url, blockchain, stablecoin, expecting_wallet_address, metadata, created_at, updated_at,
   expires_at)
SELECT id, merchant_order_id, amount_units, amount_scale, currency, 'pending', webhook_url,
       success_url, cancel_url, blockchain, stablecoin, expecting_wallet_address, metadata,
       created_at, created_at, expires_at
FROM src WHERE key_hash IS NULL OR key_hash IN (SELECT key_hash FROM keys)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

_CONNECTION_LOST = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    # ^ "another operation is in progress": the server's goodbye arrived between two statements
    ConnectionError,
    OSError,
)


@dataclass(slots=True)
class PendingRow:
    """One order waiting for its statement; `done` says whether this statement wrote it."""

    values: tuple[Any, ...]
    key_hash: str | None
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupWriter:
    """Group commit of order rows: one statement (one transaction) per batch of concurrent rows."""

    def __init__(self, dsn: str, *, pool_size: int = POOL_SIZE) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._queue: list[PendingRow] = []
        self._writers = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.statements = 0
        """Statements sent (batches and isolated retries): rows per statement is the grouping."""

    async def write(self, row: PendingRow) -> bool:
        """True when the row was inserted, False when its idempotency key is already taken."""
        self._queue.append(row)
        if self._writers < MAX_WRITERS:
            self._writers += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._tasks.discard)
        return await row.done

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # rows submitted in this loop iteration join the first batch
            while self._queue:
                await self._write_batch(self._take())
        finally:
            self._writers -= 1

    def _take(self) -> list[PendingRow]:
        """Up to MAX_BATCH rows, at most one per idempotency key (a second one waits its turn)."""
        batch: list[PendingRow] = []
        rest: list[PendingRow] = []
        keys: set[str] = set()
        for row in self._queue:
            if len(batch) >= MAX_BATCH or (row.key_hash is not None and row.key_hash in keys):
                rest.append(row)
                continue
            if row.key_hash is not None:
                keys.add(row.key_hash)
            batch.append(row)
        self._queue = rest
        return batch

    async def _write_batch(self, batch: list[PendingRow]) -> None:
        try:
            written = await self._execute(batch)
        except Exception as exc:  # noqa: BLE001 - isolate the offender, retry the rest
            if len(batch) == 1 or isinstance(exc, DatabaseUnavailable):
                for row in batch:
                    if not row.done.done():
                        row.done.set_exception(exc)
                return
            for row in batch:
                await self._write_batch([row])
            return
        for row in batch:
            if not row.done.done():
                row.done.set_result(row.key_hash is None or row.values[0] in written)

    async def _execute(self, batch: list[PendingRow]) -> set[Any]:
        columns = [list(column) for column in zip(*(row.values for row in batch), strict=True)]
        args = (*columns, utcnow() + IDEMPOTENCY_TTL)
        deadline = asyncio.get_running_loop().time() + RECONNECT_SECONDS
        while True:
            try:
                pool = await self._get_pool()
                async with pool.acquire() as conn:
                    self.statements += 1
                    try:
                        records = await conn.fetch(_INSERT, *args)
                    except _CONNECTION_LOST:
                        conn.terminate()  # never handed out again; the pool opens a new one
                        raise
                return {record[0] for record in records}
            except _CONNECTION_LOST as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise DatabaseUnavailable from exc
                log.warning("orders.fast_create.reconnect: %s", exc)
                await asyncio.sleep(0.1)

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._pool_size, reset=_keep_session
                    )
        return self._pool


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """No reset round trip when a connection goes back to the pool: the writer changes no session
    state, and asyncpg still rolls back an open transaction itself."""


def asyncpg_dsn(database_url: str) -> str | None:
    """The plain asyncpg DSN of a `postgresql+asyncpg://` URL; None for other databases."""
    url = make_url(database_url)
    if url.drivername != "postgresql+asyncpg":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class OrderCreator:
    """Everything a create needs, resolved once per app instead of once per request."""

    def __init__(self, services: Services) -> None:
        settings: Settings = services.settings
        self.services = services
        self.max_body = settings.security.max_body_bytes
        self.secret = settings.merchant.secret
        self.freshness: Freshness = freshness(settings)
        self.parse: Callable[[str], CreateOrderRequest] = json_parser(CreateOrderRequest)
        dsn = asyncpg_dsn(settings.database_url)
        self.writer = GroupWriter(dsn) if dsn is not None else None

    async def create(self, request: Any) -> StoredResponse:
        raw = await read_limited_body(request, self.max_body)
        headers = request.headers
        return await self.create_from(
            raw, headers.get("ocrch-signature"), headers.get("idempotency-key")
        )

    async def create_from(
        self, raw: bytes | None, signature: str | None, key: str | None
    ) -> StoredResponse:
        """The create once the body is read (None: it passed `max_body`) and the two headers
        looked up; raises the same errors, in the same order, as every signed route."""
        body = verify_body_signature(
            signature, raw, self.secret, self.freshness, parse_body=self.parse
        )
        assert raw is not None
        if key is not None:
            check_idempotency_key(key)
        if self.writer is None:
            return await self._through_session(body, raw, key)
        amount, ttl = service._validate(body, self.services.settings)
        now = utcnow()
        order_id = new_id()
        expires_at = now + dt.timedelta(seconds=ttl)
        answer = OrderResponse(
            order_id=order_id,
            merchant_order_id=body.order_id,
            amount=str(amount),
            status=OrderStatus.PENDING,
            created_at=service.to_unix(now),
            expires_at=service.to_unix(expires_at),
            currency=body.currency,
            metadata=body.metadata,
            success_url=body.success_url,
            cancel_url=body.cancel_url,
            **receipt_fields(amount, body.currency, 0, "", OrderStatus.PENDING),
        ).model_dump_json()
        key_hash = None if key is None else _hash(f"service:{key}".encode())
        row = PendingRow(
            (
                order_id,
                body.order_id,
                Decimal(amount.units),
                amount.scale,
                body.currency,
                body.webhook_url,
                body.success_url,
                body.cancel_url,
                body.blockchain,
                body.stablecoin,
                body.expecting_wallet_address,
                None if body.metadata is None else json.dumps(body.metadata),
                now,
                expires_at,
                key_hash,
                None if key is None else _hash(raw),
                None if key is None else answer,
            ),
            key_hash,
        )
        if await self.writer.write(row):
            return StoredResponse(201, answer.encode())
        return await self._through_session(body, raw, key)

    async def _through_session(
        self, body: CreateOrderRequest, raw: bytes, key: str | None
    ) -> StoredResponse:
        """The general path (SQLite, and replays of a key already used)."""
        services = self.services
        async with unit_of_work(services.sessionmaker, services.publisher) as session:
            return await service.create_order_response(
                session, services.settings, body, raw_body=raw, idempotency_key=key
            )


def order_creator(state: Any) -> OrderCreator:
    """The app's `OrderCreator`, made on first use (the state holds it for the app's life)."""
    creator: OrderCreator | None = state.get("order_creator")
    if creator is None:
        creator = OrderCreator(state.services)
        state.order_creator = creator
    return creator


async def close_order_creator(state: Any) -> None:
    creator: OrderCreator | None = state.get("order_creator")
    if creator is not None and creator.writer is not None:
        await creator.writer.close()
