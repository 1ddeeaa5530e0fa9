"""The rate refresher as a background job of every process that serves quotes."""

from __future__ import annotations

from app.http import Services
from app.jobs import Job


def rate_jobs(services: Services) -> list[Job]:
    """The refresher, when some configured pair needs a market source (fixed rates need none)."""
    book = services.rates
    if book is None or not book.needs_refresher:
        return []
    return [book.run]
