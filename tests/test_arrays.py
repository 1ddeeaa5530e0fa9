"""`app.arrays`: array literals survive PostgreSQL's parser unchanged, whatever the element, and
`among` selects the same rows on both databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app.arrays import among, array_param, cast, literal
from app.db import create_engine, create_sessionmaker
from app.transfers.models import Transfer

AWKWARD = [
    "plain",
    "",
    "NULL",
    "null",
    'a "quoted" word',
    "back\\slash",
    "trailing\\",
    "comma,brace{}",
    " spaces ",
    "ünïcödé ✓",
    "new\nline",
    None,
]


def _round_trip(url: str, kind: str, values: list[Any]) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                statement = sa.text(f"SELECT {cast('v', kind)}").bindparams(
                    sa.bindparam("v", type_=sa.String())
                )
                return list(
                    (await conn.execute(statement, {"v": literal(values, kind)})).scalar_one()
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("text", AWKWARD),
        ("uuid", [uuid.uuid4(), None, uuid.UUID(int=0)]),
        ("bigint", [0, -1, 2**63 - 1, None]),
        ("int", [7, -7]),
        ("numeric", [0, 10**40 + 1, -(10**30), None]),
        ("bool", [True, False, None]),
        (
            "time",
            [
                dt.datetime(2026, 12, 1, 19, 0, 0, 123456, tzinfo=dt.UTC),
                dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
                None,
            ],
        ),
        ("text", []),
        ("json", ['{"a": "b\\"c,{}", "n": [1, 2.5], "u": "\\u00fc"}', "null", None]),
    ],
)
def test_literal_round_trips_through_postgresql(
    postgresql_database_url: str, kind: str, values: list[Any]
) -> None:
    back = _round_trip(postgresql_database_url, kind, values)
    if kind == "json":  # the driver decodes JSON; the value must survive the array syntax
        values = [None if v is None else json.loads(v) for v in values]
    assert back == values


def test_literal_quotes_every_string() -> None:
    assert (
        literal(["NULL", None, 'say "hi"', "a\\b"], "text")
        == '{"NULL",NULL,"say \\"hi\\"","a\\\\b"}'
    )
    assert literal([True, False, None], "bool") == "{t,f,NULL}"
    assert literal([3, None], "numeric") == "{3,NULL}"
    assert literal([], "uuid") == "{}"
    with pytest.raises(ValueError, match="unknown array kind"):
        literal([1], "float")


def _transfer(n: int) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "blockchain": "eth",
        "token": "USDT",
        "contract_address": "0x" + "a" * 40,
        "tx_hash": f"0x{n:064x}",
        "log_index": 0,
        "from_address": "0x" + "b" * 40,
        "to_address": "0x" + "c" * 40,
        "amount": 10**6 * n,
        "block_number": n,
        "block_hash": f"0x{n:064x}",
        "block_time": now,
        "status": "pending",
        "confirmed": False,
        "late": False,
        "duplicate": False,
        "created_at": now,
        "updated_at": now,
    }


def test_among_selects_the_same_rows_on_both_databases(database_url: str) -> None:
    async def run() -> tuple[set[int], set[int], set[int]]:
        engine = create_engine(database_url)
        db = create_sessionmaker(engine)
        try:
            async with db() as session, session.begin():
                await session.execute(sa.insert(Transfer), [_transfer(n) for n in range(1, 8)])
            async with db() as session:
                picked = set(
                    await session.scalars(
                        sa.select(Transfer.block_number).where(
                            among(session, Transfer.block_number, "bigint", [2, 5, 99])
                        )
                    )
                )
                none = set(
                    await session.scalars(
                        sa.select(Transfer.block_number).where(
                            among(session, Transfer.block_number, "bigint", [])
                        )
                    )
                )
                hashes = set(
                    await session.scalars(
                        sa.select(Transfer.block_number).where(
                            among(session, Transfer.tx_hash, "text", [f"0x{3:064x}", 'x,"y'])
                        )
                    )
                )
                return picked, none, hashes
        finally:
            await engine.dispose()

    picked, none, hashes = asyncio.run(run())
    assert picked == {2, 5}
    assert none == set()
    assert hashes == {3}


def test_array_param_feeds_unnest(postgresql_database_url: str) -> None:
    async def run() -> list[Any]:
        engine = create_engine(postgresql_database_url)
        try:
            async with engine.connect() as conn:
                keys = (
                    sa.func.unnest(
                        array_param("a", "text", ["x", 'y"']),
                        array_param("b", "numeric", [1, 10**30]),
                    )
                    .table_valued("s", "n")
                    .render_derived()
                )
                return list((await conn.execute(sa.select(keys.c.s, keys.c.n))).all())
        finally:
            await engine.dispose()

    assert [(s, int(n)) for s, n in asyncio.run(run())] == [("x", 1), ('y"', 10**30)]
