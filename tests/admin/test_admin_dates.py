"""Admin date parameters at the edges of the calendar: a 400 with clear text, or an answer for a
date that parses; never a 500 (issue 14, item 14)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import ADMIN_SECRET

ADMIN = {"Ocrch-Admin-Authorization": ADMIN_SECRET}


@pytest.mark.parametrize(
    "query",
    [
        "until=9999-12-31",
        "since=9999-12-31",
        "since=0001-01-01",
        "until=0001-01-01",
        "since=10000-01-01",
        "since=2024-02-30",
        "since=2024-01-01T00:00",
        "since=-0001-01-01",
        "since=",
        "until=99999",
    ],
)
async def test_bad_dates_are_400(client: AsyncTestClient[Any], query: str) -> None:
    response = await client.get(f"/api/v1/admin/totals?{query}", headers=ADMIN)
    assert response.status_code == 400, response.text
    assert response.text.startswith("dates are"), response.text


@pytest.mark.parametrize(
    "query", ["since=1970-01-01&until=9999-12-30", "since=2024-02-29&until=2024-03-01", ""]
)
async def test_dates_that_parse_answer(client: AsyncTestClient[Any], query: str) -> None:
    response = await client.get(f"/api/v1/admin/totals?{query}", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == []
