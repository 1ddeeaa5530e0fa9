"""The background jobs every full process runs (`serve` without `--api-only`, `watch`).

Chain watchers are added by the CLI (`watchers.registry`), since `app` never imports `watchers`.
"""

from __future__ import annotations

from app.http import Services
from app.jobs import Job, expiry_sweeper
from app.webhooks.sender import webhook_sender


def default_jobs(services: Services) -> list[Job]:
    return [expiry_sweeper(services), webhook_sender(services)]
