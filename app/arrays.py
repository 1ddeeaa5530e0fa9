"""PostgreSQL statements that take many rows as one array per column (`unnest`).

The watcher writes hundreds of rows per batch. Run with `executemany`, SQLAlchemy and asyncpg
process one parameter dict per row, which was a visible part of a batch's Python time
(docs/benchmarks.md); passed as arrays, the rows are a handful of parameters of one statement.
PostgreSQL only: SQLite callers keep `executemany`. Table and column names come from the
callers' constants, never from input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

KINDS: dict[str, tuple[str, Any]] = {
    "bigint": ("bigint", sa.BigInteger()),
    "int": ("integer", sa.Integer()),
    "uuid": ("uuid", sa.Uuid()),
    "bool": ("boolean", sa.Boolean()),
    "text": ("varchar", sa.String()),
    "numeric": ("numeric", sa.Numeric(78, 0)),
    "time": ("timestamptz", sa.DateTime(timezone=True)),
}
"""Column kinds: the SQL array element type to cast to, and the bind type of the array."""


def on_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _unnest(columns: dict[str, str]) -> str:
    arrays = ", ".join(f"CAST(:{name} AS {KINDS[kind][0]}[])" for name, kind in columns.items())
    return f"unnest({arrays}) AS u({', '.join(columns)})"


def _bound(sql: str, columns: dict[str, str]) -> Any:
    return sa.text(sql).bindparams(
        *(
            sa.bindparam(name, type_=postgresql.ARRAY(KINDS[kind][1]))
            for name, kind in columns.items()
        )
    )


def unnest_update(table: str, key: str, columns: dict[str, str], sets: dict[str, str]) -> Any:
    """`UPDATE table SET column = u.name, … FROM unnest(arrays) WHERE table.id = u.key`. The
    keys must be unique in one call: an `UPDATE … FROM` updates a row once."""
    assignments = ", ".join(f"{column} = u.{name}" for column, name in sets.items())
    sql = f"UPDATE {table} SET {assignments} FROM {_unnest(columns)} WHERE {table}.id = u.{key}"  # noqa: S608
    return _bound(sql, columns)


def unnest_insert(table: str, columns: dict[str, str], tail: str = "") -> Any:
    """`INSERT INTO table (columns) SELECT * FROM unnest(arrays) tail` (`tail`: an ON CONFLICT
    and RETURNING clause); the parameters are named after the columns."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM {_unnest(columns)} {tail}"  # noqa: S608
    return _bound(sql, columns)


def as_arrays(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Parameter dicts (all with the same keys) as one list per key."""
    return {name: [row[name] for row in rows] for name in rows[0]}
