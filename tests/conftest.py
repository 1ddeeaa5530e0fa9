"""Fixtures that start real services: a fresh PostgreSQL database per test session, SQLite files,
an in-process app, and a real `stablecheckout serve` process.

PostgreSQL and Redis tests skip with a visible reason where those servers are unreachable, unless
STABLECHECKOUT_TEST_REQUIRE_SERVICES=1 (set by .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.config import Settings, load_settings
from app.db import create_engine, create_sessionmaker
from app.main import create_app
from app.migrate import upgrade_to_head
from app.models import Base
from devkit.harness import (
    PG_SERVER,
    AppProcess,
    create_database,
    database_name,
    drop_database,
    free_port,
)

REPO = Path(__file__).resolve().parent.parent
K1 = "Tq8vN2xLr5Zs9Wk3Jd7Hb1Mf4Pc6Ye0GaRu"
"""The merchant secret of test configs: 36 random characters (a weak one no longer loads)."""
VECTOR_K1 = "test-merchant-secret"
"""api.md's K1: signature vectors are checked at the signing functions, never through a config."""
ADMIN_SECRET = "adm-Vd8Rk2Lq5Zs9Xw3N"
REDIS_URL = os.environ.get("STABLECHECKOUT_TEST_REDIS", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("STABLECHECKOUT_TEST_REQUIRE_SERVICES") == "1"
TEST_WALLET_ETH = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TEST_WALLET_TRON = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"


def unavailable(reason: str) -> None:
    """Skip, or fail when CI demands that every real service is exercised."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (STABLECHECKOUT_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgresql_database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped afterwards."""
    name = database_name("sc_test")
    try:
        url = asyncio.run(create_database(PG_SERVER, name, admin_db="test"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        unavailable(f"PostgreSQL unreachable at {PG_SERVER}: {type(exc).__name__}: {exc}")
    asyncio.run(upgrade_to_head(url))
    yield url
    asyncio.run(drop_database(PG_SERVER, name, admin_db="test"))


@pytest.fixture(scope="session")
def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    asyncio.run(upgrade_to_head(url))
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        unavailable(f"Redis unreachable at {REDIS_URL}: {type(exc).__name__}")
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Both databases, each emptied before the test."""
    url: str = request.getfixturevalue(f"{request.param}_database_url")
    asyncio.run(empty_database(url))
    return url


_TABLES = [t.name for t in reversed(Base.metadata.sorted_tables)]
_EMPTY_PG = "; ".join(
    [
        # Foreign keys are triggers: off for this transaction, so the order (and the cycle
        # between deposits and transfers) does not matter.
        "SET LOCAL session_replication_role = replica",
        *(f"DELETE FROM {name}" for name in _TABLES),
        "SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND n.nspname = current_schema()",
    ]
)
"""PostgreSQL: every table emptied and every id sequence restarted, in one round trip. DELETE
rather than TRUNCATE: on a test's handful of rows it takes 30 ms where TRUNCATE's new files and
their fsync took 120 ms, and it takes no ACCESS EXCLUSIVE lock, which a server still shutting
down from the previous test could hold up (PostgreSQL then cancelled one side as a deadlock)."""


async def empty_database(url: str) -> None:
    """Empties every table (ids start at 1 again on PostgreSQL)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            if url.startswith("postgresql"):
                raw = await conn.get_raw_connection()
                await raw.driver_connection.execute(_EMPTY_PG)  # type: ignore[union-attr]
            else:
                for name in _TABLES:
                    await conn.execute(sa.text(f"DELETE FROM {name}"))
    finally:
        await engine.dispose()


def settings_dict(database_url: str, **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "admin": {"secret": ADMIN_SECRET},
        "merchant": {
            "name": "Test Shop",
            "secret": K1,
            "allowed_origins": ["https://checkout.example.com", "http://127.0.0.1:3000"],
        },
        "wallets": [
            {"blockchain": "eth", "address": TEST_WALLET_ETH, "enabled_coins": ["USDT", "USDC"]},
            {"blockchain": "tron", "address": TEST_WALLET_TRON, "enabled_coins": ["USDT"]},
        ],
        "database_url": database_url,
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return data


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(None, **settings_dict(database_url))


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app in-process (no background jobs), over the real database."""
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[sa.ext.asyncio.async_sessionmaker[Any]]:
    engine = create_engine(settings.database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


def write_config(path: Path, data: dict[str, Any]) -> Path:
    import tomlkit

    doc = {k: v for k, v in data.items() if k not in ("database_url", "redis_url")}
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return path


ServerProcess = AppProcess
"""A real `stablecheckout serve` process on a free loopback port (devkit.harness)."""


def start_server(
    config: Path,
    database_url: str,
    log_path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    ready: tuple[int, ...] = (200,),
) -> ServerProcess:
    return start_serve(
        ["-c", str(config), "--migrate", *extra],
        log_path,
        {"DATABASE_URL": database_url, **(env or {})},
        ready=ready,
    )


def start_serve(
    argv: list[str],
    log_path: Path,
    env: dict[str, str],
    *,
    before: tuple[str, ...] = (),
    ready: tuple[int, ...] = (200,),
) -> AppProcess:
    """`python -m app.cli BEFORE serve --listen 127.0.0.1:<free port> ARGV`, waited for until
    /health answers one of `ready` (90 s: a loaded CI machine starts Python slowly)."""
    port = free_port()
    argv = [*before, "serve", "--listen", f"127.0.0.1:{port}", *argv]
    server = AppProcess("serve", argv, log_path, env=env, port=port, banner=False).start()
    try:
        return server.wait_healthy(90, ready=ready)
    except TimeoutError:
        server.stop(10)
        raise RuntimeError(f"serve did not become healthy:\n{server.log()}") from None


@pytest.fixture(scope="module")
def _module_servers() -> Iterator[dict[str, ServerProcess]]:
    """The `server` processes of one test module, one per database; stopped after its last test."""
    servers: dict[str, ServerProcess] = {}
    yield servers
    for proc in servers.values():
        proc.stop()


@pytest.fixture
def server(
    settings: Settings,
    _module_servers: dict[str, ServerProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerProcess:
    """A real `serve` over the test's database, which `database_url` empties before each test.

    One process per database and test module, not per test: starting it costs more than most tests
    that use it. Between tests it keeps only in-memory counters (metrics totals, the per-minute
    user API rate limit), which no test counts on; one that died is started again.
    """
    proc = _module_servers.get(settings.database_url)
    if proc is None or proc.process.poll() is not None:
        workdir = tmp_path_factory.mktemp("server")
        config = write_config(workdir / "config.toml", settings_dict(settings.database_url))
        proc = start_server(config, settings.database_url, workdir / "serve.log")
        _module_servers[settings.database_url] = proc
    return proc


@dataclass
class DevProcess:
    """A running `stablecheckout dev`: its base URL, and what it printed."""

    base: str
    process: subprocess.Popen[str]
    output: list[str]
    returncode: int | None = None


@contextlib.contextmanager
def running_dev(workdir: Path) -> Iterator[DevProcess]:
    """`stablecheckout dev` on a free port, ready once it printed its banner; Ctrl-C afterwards,
    and the exit code and the rest of its output are kept for the test to check."""
    from devkit.chain.anvil import AnvilNotFoundError, find_anvil

    try:
        find_anvil()
    except AnvilNotFoundError as exc:
        unavailable(str(exc))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "dev", "--port", str(port), "--workdir", str(workdir)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    dev = DevProcess(f"http://127.0.0.1:{port}", process, [])
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            dev.output.append(line)
            if "Press Ctrl-C" in line or process.poll() is not None:
                break
        yield dev
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            rest, _ = process.communicate()
        dev.output.append(rest)
        dev.returncode = process.returncode


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test`'s `--dist loadgroup`: whole files per worker, long ones first (xdist_groups)."""
    from tests.xdist_groups import make_scheduler

    return make_scheduler(config, log)
