"""Hostile JSON bodies against a real `stablecheckout serve` process (issue 14, item 3).

A 73-byte unsigned body once cost seconds of CPU and 1.6 GB (the amount was formatted through
`Decimal` before the signature was checked), a longer exponent a 500 (MemoryError), and 100,000
`[` a 500 (RecursionError). Every API decodes through `app.jsonbody`, so each must answer its
documented 4xx at once, with the server's memory unchanged.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db import create_engine, create_sessionmaker, unit_of_work
from app.sessions import keys
from app.sessions.models import KeyMode
from tests.conftest import ADMIN_SECRET, ServerProcess, settings_dict, start_server, write_config
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers

HUGE_EXPONENT = b'{"amount":1e999999999,"order_id":"x","webhook_url":"https://a.example/"}'
HUGER_EXPONENT = (
    b'{"amount":1e999999999999999999,"order_id":"x","webhook_url":"https://a.example/"}'
)
DEEP = b"[" * 100_000
DEEP_INSIDE = b'{"order_id":"x","metadata":' + b"[" * 100_000
LONG_NUMBER = b'{"amount":' + b"9" * 200_000 + b"}"
HOSTILE = {
    "huge exponent": HUGE_EXPONENT,
    "huger exponent": HUGER_EXPONENT,
    "deep": DEEP,
    "deep inside": DEEP_INSIDE,
    "long number": LONG_NUMBER,
    "deep 2,000": b"[" * 2_000 + b"]" * 2_000,
    "deep 100": b'{"order_id":"x","metadata":' + b"[" * 99 + b"]" * 99 + b"}",
}
PER_REQUEST_SECONDS = 1.0
"""Each answer took well under 10 ms when measured; the margin is for a loaded CI machine."""
RSS_GROWTH_BYTES = 40 * 1024 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _api_key(url: str) -> str:
    engine = create_engine(url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            _, secret = await keys.create_api_key(session, KeyMode.TEST, "tests")
    finally:
        await engine.dispose()
    return secret


@pytest.fixture(scope="module")
def served(
    sqlite_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    tmp = tmp_path_factory.mktemp("bodies")
    data = settings_dict(sqlite_database_url)
    proc = start_server(write_config(tmp / "config.toml", data), sqlite_database_url, tmp / "log")
    try:
        yield proc, asyncio.run(_api_key(sqlite_database_url))
    finally:
        proc.stop()


def _requests(api_key: str, order_id: str) -> list[tuple[str, str, dict[str, str], int, str]]:
    """(name, path, headers, status, text): each API with valid credentials where it needs them,
    so the body is what gets refused, and its documented text (api.md §1.2, §3, §4)."""
    json_type = {"Content-Type": "application/json"}
    admin = {"Ocrch-Admin-Authorization": ADMIN_SECRET, **json_type}
    user = {**user_headers(checkout_url(order_id)), **json_type}
    unsigned = {"Ocrch-Signature": "1.AAAA"}
    sessions = {"Authorization": f"Bearer {api_key}", **json_type}
    parse_failed = "Failed to parse the request body as JSON"
    return [
        ("service", "/api/v1/service/orders", unsigned, 400, "invalid JSON body"),
        ("status", "/api/v1/service/orders/status", unsigned, 400, "invalid JSON body"),
        ("user", f"/api/v1/user/orders/{order_id}/payment", user, 400, parse_failed),
        ("admin", f"/api/v1/admin/orders/{uuid.uuid4()}/mark-paid", admin, 400, ""),
        ("attach", "/api/v1/admin/transfers/1/attach", admin, 400, ""),
        ("sessions", "/api/v1/checkout/sessions", sessions, 400, "not valid JSON"),
    ]


async def test_hostile_bodies_get_their_4xx_at_once(served: tuple[ServerProcess, str]) -> None:
    proc, api_key = served
    async with httpx.AsyncClient(base_url=proc.url, timeout=60) as http:
        raw = body_bytes(order_body(order_id=f"ord-{uuid.uuid4().hex[:8]}"))
        created = await http.post(
            "/api/v1/service/orders", content=raw, headers=signed_headers(raw)
        )
        assert created.status_code == 201, created.text
        order_id = created.json()["order_id"]
        before = rss(proc.process.pid)
        problems: list[str] = []
        for name, path, headers, status, text in _requests(api_key, order_id):
            for kind, body in HOSTILE.items():
                started = time.perf_counter()
                response = await http.post(path, content=body, headers=headers)
                elapsed = time.perf_counter() - started
                if response.status_code != status or text not in response.text:
                    problems.append(f"{name}/{kind}: {response.status_code} {response.text[:80]}")
                if elapsed > PER_REQUEST_SECONDS:
                    problems.append(f"{name}/{kind}: {elapsed:.2f} s")
        growth = rss(proc.process.pid) - before
        assert not problems, problems
        assert growth < RSS_GROWTH_BYTES, f"serve grew by {growth / 2**20:.0f} MiB"
        # The same APIs still take well-formed bodies.
        payment = await http.post(
            f"/api/v1/user/orders/{order_id}/payment",
            json={"blockchain": "eth", "stablecoin": "USDT"},
            headers=user_headers(checkout_url(order_id)),
        )
        assert payment.status_code == 201, payment.text


async def test_a_signed_number_in_metadata_still_works(served: tuple[ServerProcess, str]) -> None:
    """Bounded is not refused: ordinary JSON numbers (ints, decimals, exponents) pass."""
    proc, _ = served
    body: Any = order_body(order_id="ord-numbers", metadata={"n": 3, "x": 1})
    raw = body_bytes(body).replace(b'"x":1', b'"x":1.5e2')
    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
        response = await http.post(
            "/api/v1/service/orders", content=raw, headers=signed_headers(raw)
        )
    assert response.status_code == 201, response.text
