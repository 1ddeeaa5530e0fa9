"""`GET /health`: Ocrch's liveness answer, plus what an operator needs to know is broken.

`status` is `healthy` while this process can serve: the database answers and, when configured,
Redis does. Chain scanning is reported beside it (its age per chain) without failing the check,
since an API replica stays useful while a watcher elsewhere catches up. A configured fiat pair
without a fresh rate makes the status `degraded` (still 200): new quotes in that pair answer 503.

The Ocrch admin dashboard asks the same question at `/api/v1/admin/health`, unauthenticated, and
reads `status` and `version`: both paths answer with one handler.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from litestar import MediaType, Response, get
from litestar.datastructures import State

from app import __version__
from app.http import services_of
from app.transfers.models import ChainCursor

STALE_SCAN_SECONDS = 120


@get(
    ["/health", "/api/v1/admin/health"],
    tags=["Operations"],
    summary="Health and readiness",
    media_type=MediaType.JSON,
)
async def health(state: State) -> Response[dict[str, Any]]:
    services = services_of(state)
    checks: dict[str, Any] = {}
    watchers: dict[str, Any] = {}
    try:
        async with services.sessionmaker() as session:
            await session.execute(sa.text("SELECT 1"))
            now = time.time()
            for cursor in await session.scalars(sa.select(ChainCursor)):
                age = round(now - cursor.updated_at.timestamp(), 1)
                watchers[cursor.blockchain] = {
                    "scanned_block": cursor.block_number,
                    "seconds_since_scan": age,
                    "status": "ok" if age < STALE_SCAN_SECONDS else "stale",
                }
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {type(exc).__name__}"
    if services.settings.redis_url:
        checks["redis"] = await _redis(services.settings.redis_url)
    healthy = all(value == "ok" for value in checks.values())
    rates = services.rates.status() if services.rates else None
    degraded = rates is not None and any(item["status"] != "ok" for item in rates.values())
    body = {
        "status": "unhealthy" if not healthy else "degraded" if degraded else "healthy",
        "version": __version__,
        **checks,
        "watchers": watchers,
    }
    if rates is not None:
        # A pair without a fresh rate cannot be quoted (503), but the process still serves.
        body["rates"] = rates
    return Response(body, status_code=200 if healthy else 503)


async def _redis(url: str) -> str:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"error: {type(exc).__name__}"
    finally:
        await client.aclose()
