"""PostgreSQL statements that take many rows as one array per column (`unnest`).

The watcher writes hundreds of rows per batch. Run with `executemany`, SQLAlchemy and asyncpg
process one parameter dict per row, which was a visible part of a batch's Python time
(docs/benchmarks.md); passed as arrays, the rows are a handful of parameters of one statement.

Each array travels as one text parameter in PostgreSQL's array syntax (`literal`), cast by the
server (`CAST(CAST(:p AS text) AS uuid[])`): asyncpg's binary array encoder runs several
`isinstance` checks against `collections.abc` per element, which cost more than the rest of the
statement's client side (a 500-element uuid array: ~1.4 µs per element against ~0.3 µs as text).
PostgreSQL only: SQLite callers keep `executemany`. Table and column names come from the
callers' constants, never from input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

KINDS: dict[str, str] = {
    "bigint": "bigint",
    "int": "integer",
    "uuid": "uuid",
    "bool": "boolean",
    "text": "varchar",
    "numeric": "numeric",
    "time": "timestamptz",
    "json": "json",
}
"""Column kinds: the SQL array element type each array is cast to (`json`: JSON text)."""


def on_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _quoted(text: str) -> str:
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def literal(values: Iterable[Any], kind: str) -> str:
    """`values` (elements of `kind`, or None) in PostgreSQL's array input syntax, for
    `CAST(CAST(:p AS text) AS kind[])`: every string quoted (so commas, braces, blanks and the
    word NULL stay data), None as NULL, integers (`numeric` ones too) exact, datetimes in ISO 8601
    with their offset, uuids as 32 hex digits. One comprehension per kind, and each distinct
    timestamp formatted once (a batch repeats `now` and its blocks' times): `str(uuid)` and
    `isoformat()` cost 1.7 and 2.4 µs an element, more than the encoding they replace."""
    if kind in ("bigint", "int", "numeric"):
        parts = ["NULL" if v is None else str(v) for v in values]
    elif kind == "uuid":
        parts = ["NULL" if v is None else "%032x" % v.int for v in values]  # noqa: UP031
    elif kind == "bool":
        parts = ["NULL" if v is None else ("t" if v else "f") for v in values]
    elif kind == "time":
        values = list(values)
        texts = {v: f'"{v.isoformat()}"' for v in set(values) if v is not None}
        parts = ["NULL" if v is None else texts[v] for v in values]
    elif kind in ("text", "json"):
        parts = ["NULL" if v is None else _quoted(str(v)) for v in values]
    else:
        raise ValueError(f"unknown array kind {kind!r}")
    return "{" + ",".join(parts) + "}"


def cast(name: str, kind: str) -> str:
    """The SQL for parameter `name`, bound to `literal(...)`, as an array of `kind`."""
    return f"CAST(CAST(:{name} AS text) AS {KINDS[kind]}[])"


def array_param(name: str, kind: str, values: Iterable[Any]) -> Any:
    """An SQLAlchemy expression: `values` as one array of `kind` (for `sa.func.unnest`, or
    `column == sa.any_(...)` where an `IN` list would be a parameter per element)."""
    text = sa.cast(sa.bindparam(name, literal(values, kind), type_=sa.Text()), sa.Text())
    return sa.cast(text, postgresql.ARRAY(_ELEMENT_TYPES[kind]))


def among(session: AsyncSession, column: Any, kind: str, values: Sequence[Any]) -> Any:
    """`column IN values`: on PostgreSQL `column = ANY(array)`, one parameter and one cached
    statement whatever the count, where an expanding `IN` renders a parameter per value."""
    if on_postgresql(session):
        return column == sa.any_(array_param(f"any_{column.key}", kind, values))
    return column.in_(values)


_ELEMENT_TYPES: dict[str, Any] = {
    "bigint": sa.BigInteger(),
    "int": sa.Integer(),
    "uuid": sa.Uuid(),
    "bool": sa.Boolean(),
    "text": sa.String(),
    "numeric": sa.Numeric(78, 0),
    "time": sa.DateTime(timezone=True),
}


def _unnest(columns: dict[str, str]) -> str:
    arrays = ", ".join(cast(name, kind) for name, kind in columns.items())
    return f"unnest({arrays}) AS u({', '.join(columns)})"


@dataclass(frozen=True, slots=True)
class Unnest:
    """A statement over `unnest` of one array per column, and the columns' kinds."""

    statement: Any
    columns: dict[str, str]

    def params(self, rows: Sequence[dict[str, Any]]) -> dict[str, str]:
        """Parameter dicts (with the columns' keys) as one array literal per column."""
        return {
            name: literal([row[name] for row in rows], kind) for name, kind in self.columns.items()
        }


def _bound(sql: str, columns: dict[str, str]) -> Unnest:
    return Unnest(
        sa.text(sql).bindparams(*(sa.bindparam(name, type_=sa.String()) for name in columns)),
        columns,
    )


def unnest_update(table: str, key: str, columns: dict[str, str], sets: dict[str, str]) -> Unnest:
    """`UPDATE table SET column = u.name, … FROM unnest(arrays) WHERE table.id = u.key`. The
    keys must be unique in one call: an `UPDATE … FROM` updates a row once."""
    assignments = ", ".join(f"{column} = u.{name}" for column, name in sets.items())
    sql = f"UPDATE {table} SET {assignments} FROM {_unnest(columns)} WHERE {table}.id = u.{key}"  # noqa: S608
    return _bound(sql, columns)


def unnest_insert(table: str, columns: dict[str, str], tail: str = "") -> Unnest:
    """`INSERT INTO table (columns) SELECT * FROM unnest(arrays) tail` (`tail`: an ON CONFLICT
    and RETURNING clause); the parameters are named after the columns."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM {_unnest(columns)} {tail}"  # noqa: S608
    return _bound(sql, columns)


@dataclass(frozen=True, slots=True)
class BatchUpdate:
    """One UPDATE of many rows keyed by id, declared once: over `unnest` of one array per
    column on PostgreSQL, run with many parameter sets (500 at a time) elsewhere."""

    arrays: Unnest
    each: Any

    async def run(self, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        connection = await session.connection()
        if on_postgresql(session):
            await connection.execute(self.arrays.statement, self.arrays.params(rows))
            return
        for start in range(0, len(rows), 500):
            await connection.execute(self.each, rows[start : start + 500])


def batch_update(
    table: sa.Table, key: str, columns: dict[str, str], sets: dict[str, str]
) -> BatchUpdate:
    """`UPDATE table SET column = :name, … WHERE id = :key` for many rows: `columns` names each
    parameter and its kind, `sets` each column and the parameter it takes."""
    each = (
        sa.update(table)
        .where(table.c.id == sa.bindparam(key))
        .values({column: sa.bindparam(name) for column, name in sets.items()})
    )
    return BatchUpdate(unnest_update(table.name, key, columns, sets), each)
