"""`GET /health`: Ocrch's liveness answer, plus what an operator needs to know is broken."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import MediaType, Response, get
from litestar.datastructures import State

from app import __version__
from app.http import services_of


@get("/health", tags=["Operations"], summary="Health and readiness", media_type=MediaType.JSON)
async def health(state: State) -> Response[dict[str, Any]]:
    services = services_of(state)
    checks: dict[str, str] = {}
    try:
        async with services.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "healthy" if healthy else "unhealthy", "version": __version__, **checks}
    return Response(body, status_code=200 if healthy else 503)
