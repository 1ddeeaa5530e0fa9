"""The dialects' routes, mounted only for the dialects `[epusdt]` / `[epay]` enable."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from app.config import Settings
from app.dialects import epay, epusdt


def dialect_routes(settings: Settings) -> list[ControllerRouterHandler]:
    routes: list[ControllerRouterHandler] = []
    if settings.epusdt.enabled:
        routes.append(epusdt.api_router())
    if settings.epay.enabled:
        routes += epay.ROUTES
    if settings.epusdt.enabled or settings.epay.enabled:
        routes += epusdt.COUNTER_ROUTES
    return routes
