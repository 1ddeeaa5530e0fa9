"""The composition root: the one module that builds settings, the engine, the channels, the
services and the jobs. `serve`, `watch`, `dev`, `stablecheckout admin` and the sessions CLI all
assemble a process here, so they cannot drift apart (a Redis publisher in one and not another).

Chain watchers live outside `app` (`watchers/`); this module loads them lazily, when a process
that runs them is built, so `app` never imports them at import time and an `--api-only` replica
never loads web3. Everything else is imported inside the builders too, so a command that only
needs the settings (`sign-url`) starts fast. Domain event subscriptions (`app.subscriptions`) are
loaded with the services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from app.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.channels import ChannelsPlugin
    from litestar.types import ControllerRouterHandler
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.http import Services
    from app.jobs import Job
    from app.realtime.changes import Publisher


def settings_or_exit(path: str | None, program: str = "stablecheckout") -> Settings:
    """The configuration at `path` (or the environment), or exit with the error as its text."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        raise SystemExit(f"{program}: {exc}") from None


def redis_publisher(settings: Settings) -> Publisher | None:
    """Pushes from a process without WebSockets (watch, the admin CLI) reach the pages of the
    `serve` processes over Redis when it is configured; nowhere otherwise."""
    if not settings.redis_url:
        return None
    from app.realtime.channels import RedisPublisher

    return RedisPublisher(settings.redis_url)


def services(settings: Settings, publisher: Publisher | None = None, **parts: Any) -> Services:
    import app.subscriptions  # noqa: F401 - every domain event has its subscribers from the start
    from app.db import create_engine, create_sessionmaker
    from app.http import Services

    engine = create_engine(settings.database_url)
    return Services(settings, engine, create_sessionmaker(engine), publisher, **parts)


def web_services(settings: Settings) -> tuple[Services, ChannelsPlugin]:
    """What `create_app` serves with: the Channels plugin (in memory, or Redis) publishes."""
    from app.rates.book import RateBook
    from app.realtime.channels import ChannelsPublisher, make_channels_plugin
    from app.security.limits import make_limiter

    channels = make_channels_plugin(settings.redis_url)
    built = services(
        settings,
        ChannelsPublisher(channels),
        rates=RateBook.from_settings(settings),
        limiter=make_limiter(settings.redis_url),
    )
    return built, channels


def chain_jobs(built: Services) -> list[Job]:
    """A watcher job for every configured chain (`watchers.registry`)."""
    from watchers.registry import watcher_jobs

    return watcher_jobs(built)


def all_jobs(built: Services) -> list[Job]:
    """What a full process runs: the sweeper, the webhook sender and the chain watchers."""
    from app.workers import default_jobs

    return default_jobs(built) + chain_jobs(built)


def web_app(
    settings: Settings,
    *,
    run_jobs: bool,
    extra_routes: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """`serve` and `dev`: the API, with the background jobs and watchers unless `--api-only`."""
    from app.main import create_app

    return create_app(settings, run_jobs=run_jobs, extra_jobs=chain_jobs, extra_routes=extra_routes)


@asynccontextmanager
async def opened(
    settings: Settings, publisher: Callable[[Settings], Publisher | None] = redis_publisher
) -> AsyncIterator[Services]:
    """Services for a command-line process, with the engine disposed at the end."""
    built = services(settings, publisher(settings))
    try:
        yield built
    finally:
        await built.engine.dispose()


@asynccontextmanager
async def one_transaction(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One unit of work for a CLI command (admin, API keys), pushes published after commit."""
    from app.db import unit_of_work

    async with (
        opened(settings) as built,
        unit_of_work(built.sessionmaker, built.publisher) as session,
    ):
        yield session
