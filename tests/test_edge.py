"""Characters no database can store, refused once at the edge (issue 14, item 14).

PostgreSQL `text` cannot hold NUL, no UTF-8 column a lone surrogate; each used to reach a query
and come back as a 500 (the schema fuzz test found a NUL in `tx_hash` to the admin transfers
list). Both databases run every case; PostgreSQL is the one that used to fail.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.sessions import keys
from app.sessions.models import KeyMode
from tests.conftest import ADMIN_SECRET
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers

ADMIN = {"Ocrch-Admin-Authorization": ADMIN_SECRET}
QUERIES = [
    "/api/v1/admin/transfers?tx_hash=%00",
    "/api/v1/admin/transfers?tx_hash=0x%00ab",
    "/api/v1/admin/orders?merchant_order_id=a%00b",
    "/api/v1/admin/deposits?order_id=%00",
    "/api/v1/admin/transfers?tx_hash=%ED%A0%80",  # a surrogate, UTF-8 encoded (invalid UTF-8)
    "/api/v1/admin/transfers?tx_hash=%FF",
    "/api/v1/admin/orders/%00",
    "/api/v1/admin/orders/a%00b/webhooks",
    "/api/v1/admin/wallets/0x%00/transfers",
]


@pytest.mark.parametrize("path", QUERIES)
async def test_unstorable_query_and_path_values_are_400(
    client: AsyncTestClient[Any], path: str
) -> None:
    response = await client.get(path, headers=ADMIN)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/plain")  # Ocrch renders text
    assert "NUL character" in response.text


async def test_authentication_still_comes_first(client: AsyncTestClient[Any]) -> None:
    """Ocrch's admin order: a bad secret is 401 whatever the query holds (api.md §1.4)."""
    response = await client.get("/api/v1/admin/transfers?tx_hash=%00")
    assert (response.status_code, response.text) == (
        401,
        "missing Ocrch-Admin-Authorization header",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("order_id", "ord\x00123"),
        ("webhook_url", "https://shop.example.com/\x00hook"),
        ("metadata", {"note\x00": "x"}),
        ("metadata", {"note": ["ok", "a\x00"]}),
    ],
)
async def test_nul_in_a_signed_body_is_400(
    client: AsyncTestClient[Any], field: str, value: Any
) -> None:
    raw = body_bytes(order_body(**{field: value}))
    response = await client.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))
    assert (response.status_code, response.text) == (400, "invalid JSON body")


async def test_lone_surrogate_in_a_body_is_400(client: AsyncTestClient[Any]) -> None:
    raw = body_bytes(order_body()).replace(b'"ord_123"', b'"ord\\ud800"')
    response = await client.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))
    assert (response.status_code, response.text) == (400, "invalid JSON body")


async def test_user_and_session_apis(client: AsyncTestClient[Any], db: Any) -> None:
    raw = body_bytes(order_body())
    created = await client.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))
    order_id = created.json()["order_id"]
    headers = {**user_headers(checkout_url(order_id)), "Content-Type": "application/json"}
    payment = await client.post(
        f"/api/v1/user/orders/{order_id}/payment",
        content=b'{"blockchain":"eth\\u0000","stablecoin":"USDT"}',
        headers=headers,
    )
    assert payment.status_code == 400 and payment.text.startswith("Failed to parse"), payment.text

    async with db() as session, session.begin():
        _, secret = await keys.create_api_key(session, KeyMode.TEST, "tests")
    bearer = {"Authorization": f"Bearer {secret}"}
    for path in (
        "/api/v1/checkout/sessions?starting_after=cs_%00",
        "/api/v1/checkout/sessions/cs_test_%00",
        "/checkout/s/cs_test_%00",
        f"/checkout/s/cs_test_x/signature?order_id={uuid.uuid4()}%00",
    ):
        response = await client.get(path, headers=bearer)
        assert response.status_code == 400, (path, response.text)
        assert "NUL character" in response.text, path
