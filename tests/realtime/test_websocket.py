"""The order WebSocket through real `serve` processes: one process, and two over Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.config import Settings
from tests.conftest import ServerProcess, settings_dict, start_server, write_config
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers


async def create_order(base: str, **overrides: Any) -> str:
    raw = body_bytes(order_body(**overrides))
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post(
            "/api/v1/service/orders", content=raw, headers=signed_headers(raw)
        )
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order_id"]
    return order_id


def ws_url(base: str, order_id: str, *, query_auth: bool = True) -> str:
    url = f"{base.replace('http://', 'ws://')}/api/v1/user/orders/{order_id}/ws"
    if not query_auth:
        return url
    signed = checkout_url(order_id)
    return (
        url
        + "?"
        + urlencode({"signed_url": signed, "signature": user_headers(signed)["Ocrch-Signature"]})
    )


async def frames_until_close(socket: Any) -> tuple[list[dict[str, Any]], int | None]:
    frames = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


async def test_snapshot_then_change_then_close(server: ServerProcess) -> None:
    order_id = await create_order(server.url)
    async with websockets.connect(ws_url(server.url, order_id)) as socket:
        first = json.loads(await socket.recv())
        assert first["type"] == "status_update"
        assert first["order"]["order_id"] == order_id and first["order"]["status"] == "pending"
        async with httpx.AsyncClient(base_url=server.url) as http:
            cancel = await http.post(
                f"/api/v1/user/orders/{order_id}/cancel",
                headers=user_headers(checkout_url(order_id)),
            )
        assert cancel.status_code == 200
        frames, code = await frames_until_close(socket)
    assert [f["order"]["status"] for f in frames] == ["cancelled"]
    assert code == 1000


async def test_header_auth_and_terminal_order(server: ServerProcess) -> None:
    order_id = await create_order(server.url)
    async with httpx.AsyncClient(base_url=server.url) as http:
        await http.post(
            f"/api/v1/user/orders/{order_id}/cancel", headers=user_headers(checkout_url(order_id))
        )
    headers = user_headers(checkout_url(order_id))
    async with websockets.connect(
        ws_url(server.url, order_id, query_auth=False), additional_headers=headers
    ) as socket:
        frames, code = await frames_until_close(socket)
    assert [f["order"]["status"] for f in frames] == ["cancelled"]
    assert code == 1000


async def test_unknown_order(server: ServerProcess) -> None:
    import uuid

    order_id = str(uuid.uuid4())
    async with websockets.connect(ws_url(server.url, order_id)) as socket:
        frames, code = await frames_until_close(socket)
    assert frames == [{"type": "error", "code": 4004, "reason": "order not found"}]
    assert code == 4004


@pytest.mark.parametrize(
    ("make_url", "status", "text"),
    [
        (
            lambda base, oid: ws_url(base, oid, query_auth=False),
            401,
            "missing Ocrch-Signature header",
        ),
        (
            lambda base, oid: ws_url(base, oid).replace("signature=", "signature=1"),
            401,
            "signature verification failed",
        ),
        (
            lambda base, oid: ws_url(base, oid).replace(oid, "0" * 8 + oid[8:], 1),
            403,
            "signed url does not match order",
        ),
    ],
)
async def test_refused_upgrades_are_plain_http(
    server: ServerProcess, make_url: Any, status: int, text: str
) -> None:
    order_id = await create_order(server.url)
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(make_url(server.url, order_id)):
            pass
    assert info.value.response.status_code == status
    assert bytes(info.value.response.body).decode() == text


@pytest.fixture
def two_servers_over_redis(
    postgresql_database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    from tests.conftest import empty_database

    asyncio.run(empty_database(postgresql_database_url))
    config = write_config(tmp_path / "config.toml", settings_dict(postgresql_database_url))
    env = {"REDIS_URL": redis_url}
    a = start_server(config, postgresql_database_url, tmp_path / "a.log", env=env)
    b = start_server(config, postgresql_database_url, tmp_path / "b.log", "--api-only", env=env)
    yield a, b
    a.stop()
    b.stop()


async def test_change_on_process_a_reaches_socket_on_process_b(
    two_servers_over_redis: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_servers_over_redis
    order_id = await create_order(a.url)
    async with websockets.connect(ws_url(b.url, order_id)) as socket:
        assert json.loads(await socket.recv())["order"]["status"] == "pending"
        async with httpx.AsyncClient(base_url=a.url) as http:
            started = time.monotonic()
            cancel = await http.post(
                f"/api/v1/user/orders/{order_id}/cancel",
                headers=user_headers(checkout_url(order_id)),
            )
            assert cancel.status_code == 200
        frame = json.loads(await asyncio.wait_for(socket.recv(), 1.0))
        elapsed = time.monotonic() - started
    assert frame["order"]["status"] == "cancelled"
    assert elapsed < 1.0


# A load run (200 concurrent requests): in `make test-slow`, alone, not beside another worker,
# where its requests' 30 s wait for a database connection can run out on 2 cores.
@pytest.mark.slow
async def test_concurrent_payments_get_distinct_amounts(
    server: ServerProcess, settings: Settings
) -> None:
    """200 orders of one amount, 200 concurrent payment requests, one wallet: 200 amounts."""
    order_ids = [await create_order(server.url, amount="25") for _ in range(200)]
    async with httpx.AsyncClient(
        base_url=server.url, timeout=60, limits=httpx.Limits(max_connections=100)
    ) as http:
        responses = await asyncio.gather(
            *[
                http.post(
                    f"/api/v1/user/orders/{oid}/payment",
                    json={"blockchain": "eth", "stablecoin": "USDT"},
                    headers=user_headers(checkout_url(oid)),
                )
                for oid in order_ids
            ]
        )
    assert {r.status_code for r in responses} == {201}, {r.text for r in responses}
    amounts = [r.json()["amount_base_units"] for r in responses]
    assert len(set(amounts)) == 200
    assert min(int(a) for a in amounts) == 25_000_000
