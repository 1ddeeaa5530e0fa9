"""The floors for bench/service_api.py: bare Litestar endpoints, served like `serve` serves.

`POST /echo` decodes the JSON request body (as the real endpoint must) and answers 201 with a
small JSON dict. No database, no signature check, no middleware, no dependencies: what is left is
uvicorn + Litestar routing + JSON in and out, served with the same uvicorn settings as `serve`.

`POST /echo-db` (only when BENCH_PG_DSN is set) does the same and also INSERTs one row into
`bench_floor` through a plain asyncpg pool, one autocommit statement: the least any endpoint that
durably stores an order can do in Python, without SQLAlchemy, DI, signature or validation.

Run alone: uv run python bench/bare_app.py --listen 127.0.0.1:8081
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from litestar import Litestar, post
from uuid_utils.compat import uuid7

FLOOR_TABLE = """\
CREATE TABLE IF NOT EXISTS bench_floor (
    id uuid PRIMARY KEY,
    merchant_order_id text NOT NULL,
    amount numeric(78, 28) NOT NULL,
    webhook_url text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)"""
_pool: Any = None


@post("/echo", status_code=201)
async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return {"order_id": data.get("order_id"), "status": "pending"}


@post("/echo-db", status_code=201)
async def echo_db(data: dict[str, Any]) -> dict[str, Any]:
    order_id = uuid7()
    await _pool.execute(
        "INSERT INTO bench_floor (id, merchant_order_id, amount, webhook_url) "
        "VALUES ($1, $2, $3, $4)",
        order_id,
        data["order_id"],
        Decimal(data["amount"]),
        data["webhook_url"],
    )
    return {"order_id": str(order_id), "merchant_order_id": data["order_id"], "status": "pending"}


@asynccontextmanager
async def _database(_app: Litestar) -> AsyncIterator[None]:
    global _pool
    dsn = os.environ.get("BENCH_PG_DSN")
    if not dsn:
        yield
        return
    import asyncpg

    _pool = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
    await _pool.execute(FLOOR_TABLE)
    try:
        yield
    finally:
        await _pool.close()


app = Litestar(route_handlers=[echo, echo_db], lifespan=[_database], debug=False)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8081", help="HOST:PORT")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    # The same uvicorn settings as `stablecheckout serve` (app/cli.py cmd_serve): one process,
    # loop/http "auto" (uvloop + httptools when installed), no access log.
    uvicorn.run(
        app,
        host=host,
        port=int(port),
        log_level="info",
        access_log=False,
        ws="websockets-sansio",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
