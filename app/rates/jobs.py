"""Fiat pricing's background jobs: the rate refresher of every process that serves quotes, and
the sweep that stops honouring re-quoted amounts once their grace has passed."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.db import unit_of_work
from app.http import Services
from app.jobs import Job
from app.payments.quotes import lapse_superseded_quotes

log = logging.getLogger("app.rates")
SWEEP_SECONDS = 5.0


def quote_sweeper(services: Services) -> Job:
    """An idempotent UPDATE every few seconds; safe in every process at once."""
    config = services.settings.rates
    assert config is not None
    grace = config.requote_grace_seconds

    async def run(stop: asyncio.Event) -> None:
        interval = min(SWEEP_SECONDS, max(1.0, grace / 2))
        while not stop.is_set():
            try:
                async with unit_of_work(services.sessionmaker, services.publisher) as session:
                    lapsed = await lapse_superseded_quotes(session, grace)
                if lapsed:
                    log.info("quotes.superseded_lapsed count=%d", lapsed)
            except Exception:
                log.exception("quotes.sweep_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    return run


def rate_jobs(services: Services) -> list[Job]:
    """With `[rates]`: the quote sweeper, and the refresher when some configured pair needs a
    market source (fixed rates and the USD peg need none)."""
    book = services.rates
    if book is None:
        return []
    jobs = [quote_sweeper(services)]
    if book.needs_refresher:
        jobs.append(book.run)
    return jobs
