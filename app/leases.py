"""Named leases in the database: one active holder per job (a chain watcher, the expiry sweeper).

Extra processes run as hot standbys: they retry the lease and take over once the holder stops
renewing it. Acquire and renew are one conditional upsert, so two processes never both win.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UtcDateTime, utcnow


class Lease(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


async def try_acquire(session: AsyncSession, name: str, holder: str, ttl_seconds: float) -> bool:
    """Take or renew `name` for `holder`; True if `holder` holds it afterwards."""
    now = utcnow()
    expires = now + dt.timedelta(seconds=ttl_seconds)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Lease).values(name=name, holder=holder, expires_at=expires)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Lease.name],
        set_={"holder": holder, "expires_at": expires},
        where=sa.or_(Lease.holder == holder, Lease.expires_at < now),
    )
    await session.execute(stmt)
    current = await session.scalar(sa.select(Lease.holder).where(Lease.name == name))
    return current == holder


async def release(session: AsyncSession, name: str, holder: str) -> None:
    await session.execute(sa.delete(Lease).where(Lease.name == name, Lease.holder == holder))
