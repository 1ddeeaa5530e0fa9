"""Amounts at their edges (issue 14, item 14): ASCII digits only, a configurable upper bound
(`[orders].max_amount`, default 10^12 coin units), and numbers too large for any column refused
with 400 rather than a 500 (PostgreSQL) or a stored 10^70 USDT order (SQLite)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.config import load_settings
from app.main import create_app
from tests.conftest import settings_dict
from tests.helpers import body_bytes, order_body, signed_headers

CREATE = "/api/v1/service/orders"


async def create(client: AsyncTestClient[Any], raw: bytes) -> Any:
    return await client.post(CREATE, content=raw, headers=signed_headers(raw))


@pytest.mark.parametrize(
    "amount",
    # Fullwidth "10", Arabic-Indic "10.5", a final newline, Arabic-Indic "3" (escaped for ruff).
    [
        "\uff11\uff10",
        "\u0661\u0660.\u0665",
        "10\n",
        "10 ",
        "1e400",
        "1" + "0" * 80,
        "1" + "0" * 70,
        "\u0663",
    ],
)
async def test_refused_before_the_signature(client: AsyncTestClient[Any], amount: str) -> None:
    """Not a plain ASCII decimal, or more digits than any order: the body does not deserialize."""
    response = await create(client, body_bytes(order_body(amount=amount)))
    assert (response.status_code, response.text) == (400, "invalid JSON body")


@pytest.mark.parametrize("number", [b"1e400", b"1" + b"0" * 80, b"1e70", b"1e-400"])
async def test_json_numbers_too_large_or_fine(client: AsyncTestClient[Any], number: bytes) -> None:
    raw = body_bytes(order_body()).replace(b'"19.99"', number)
    response = await create(client, raw)
    assert response.status_code == 400, response.text


async def test_the_upper_bound(client: AsyncTestClient[Any]) -> None:
    at_bound = await create(client, body_bytes(order_body(amount="1000000000000", order_id="a")))
    assert at_bound.status_code == 201, at_bound.text
    assert at_bound.json()["amount"] == "1000000000000"
    for amount in ("1000000000000.01", "9" * 30, "1" + "0" * 39):
        above = await create(client, body_bytes(order_body(amount=amount, order_id="b")))
        assert above.status_code == 400, (amount, above.text)
        assert above.text == "amount must be at most 1000000000000 ([orders].max_amount)"
    as_number = body_bytes(order_body(order_id="c")).replace(b'"19.99"', b"2e12")
    assert (await create(client, as_number)).status_code == 400


async def test_the_bound_is_configurable(database_url: str) -> None:
    settings = load_settings(None, **settings_dict(database_url, orders={"max_amount": "250.5"}))
    async with AsyncTestClient(app=create_app(settings)) as client:
        ok = await create(client, body_bytes(order_body(amount="250.50", order_id="a")))
        assert ok.status_code == 201, ok.text
        over = await create(client, body_bytes(order_body(amount="250.51", order_id="b")))
        assert (over.status_code, over.text) == (
            400,
            "amount must be at most 250.5 ([orders].max_amount)",
        )
