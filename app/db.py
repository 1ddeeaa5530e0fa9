"""Database engine, column types that mean the same on SQLite and PostgreSQL, and the unit of work.

Design rules kept here so no service has to remember them:
- one transaction per request or job, opened and committed by `unit_of_work`; services only flush;
- effects that must follow a commit (pub/sub pushes, waking the webhook sender) are queued on the
  session with `after_commit` and run only once the commit has succeeded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from app.realtime.changes import Publisher, publish_queued

AfterCommit = Callable[[], Awaitable[None]]


class BaseUnits(TypeDecorator[int]):
    """An exact non-float integer of any size (token base units: 10^24 and beyond).

    NUMERIC(78,0) on PostgreSQL (uint256 fits); canonical decimal text on SQLite, whose own
    NUMERIC would silently turn large values into floats. Equality and unique indexes work on
    both; ordering and sums must not be asked of SQLite.
    """

    impl = sa.Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(80))
        return dialect.type_descriptor(sa.Numeric(78, 0, asdecimal=True))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"base units must be int, got {type(value).__name__}")
        return str(value) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(value)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        """None on asyncpg, which already decodes `timestamptz` as an aware UTC datetime: a call
        per value read was a visible part of the watcher's batch (docs/benchmarks.md)."""
        if dialect.name == "postgresql" and dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        moment: dt.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine tuned per database.

    SQLite gets one connection per process and `BEGIN IMMEDIATE`: writes are serialized up front
    instead of failing with "database is locked" when two transactions race to upgrade their locks.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800
    )


async def core(session: AsyncSession) -> AsyncConnection:
    """The session's connection, its pending ORM changes flushed first. A Core SELECT of columns
    run through `session.execute` still goes through the ORM's result machinery (several µs a
    row); on the connection it does not, and it sees every change the session made."""
    await session.flush()
    return await session.connection()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def after_commit(session: AsyncSession, effect: AfterCommit) -> None:
    """Run `effect` once the surrounding unit of work has committed (never if it rolls back)."""
    session.info.setdefault("after_commit", []).append(effect)


async def run_after_commit(session: AsyncSession) -> None:
    effects: list[AfterCommit] = session.info.pop("after_commit", [])
    for effect in effects:
        await effect()


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher | None = None
) -> AsyncIterator[AsyncSession]:
    """One transaction for a job: commit on success, roll back on error, then the effects."""
    async with sessionmaker() as session:
        async with session.begin():
            yield session
        await run_after_commit(session)
        await publish_queued(session, publisher)
