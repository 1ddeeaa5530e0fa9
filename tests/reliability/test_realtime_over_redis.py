"""Two API replicas over Redis, and the two ways pushes used to get lost (app/realtime/channels.py):

- a burst of sockets opening at once on a fresh replica: concurrent SUBSCRIBEs raced in redis-py
  and all but one of those sockets never received anything;
- a Redis restart: Litestar's Redis workers died on the first connection error, so the replica
  never pushed again and its open sockets stayed silent. Now pushes come back, and a socket open
  across the outage is closed with 1012 so that its page reconnects and reads what it missed.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from app.security.admin_auth import hash_secret
from tests.conftest import ADMIN_SECRET, settings_dict, write_config
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers
from tests.reliability.conftest import (
    AppProcess,
    PrivatePostgres,
    PrivateRedis,
    serve_process,
    tail,
)
from tests.reliability.scenario import ws_url

pytestmark = pytest.mark.timeout(240)


async def create(api: AppProcess) -> str:
    raw = body_bytes(order_body(order_id=f"redis-{time.time_ns()}"))
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{api.url}/api/v1/service/orders", content=raw, headers=signed_headers(raw)
        )
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order_id"]
    return order_id


async def cancel(api: AppProcess, order_id: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{api.url}/api/v1/user/orders/{order_id}/cancel",
            headers=user_headers(checkout_url(order_id)),
        )
    assert response.status_code == 200, response.text


async def pushed_across(via: AppProcess, to: AppProcess) -> bool:
    """Change an order on `via` while a socket on `to` follows it: does the frame arrive?"""
    order_id = await create(via)
    async with websockets.connect(ws_url(to.url, order_id), open_timeout=5) as socket:
        assert json.loads(await socket.recv())["order"]["status"] == "pending"
        await cancel(via, order_id)
        try:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 3))
        except (TimeoutError, ConnectionClosed):
            return False
    return bool(frame["order"]["status"] == "cancelled")


async def test_pushes_reach_every_socket_across_a_redis_restart(
    private_postgres: PrivatePostgres, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    await asyncio.to_thread(private_postgres.create_database, "realtime")
    url = private_postgres.url("realtime")
    from app.migrate import upgrade_to_head

    await upgrade_to_head(url)
    data = settings_dict(url, admin={"secret": hash_secret(ADMIN_SECRET)})
    config = write_config(tmp_path / "config.toml", data)
    env = {"DATABASE_URL": url, "REDIS_URL": private_redis.url}
    a, b = (serve_process(name, config, env, tmp_path) for name in ("a", "b"))
    try:
        a.start()
        b.start()
        await asyncio.gather(asyncio.to_thread(a.wait_ready), asyncio.to_thread(b.wait_ready))

        # The first sockets of a fresh replica, opened all at once: every one gets its push.
        orders = [await create(a) for _ in range(8)]
        burst = await asyncio.gather(*(websockets.connect(ws_url(b.url, o)) for o in orders))
        for socket in burst:
            assert json.loads(await socket.recv())["order"]["status"] == "pending"
        for order_id in orders:
            await cancel(a, order_id)
        silent = 0
        for socket in burst:
            try:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
                assert frame["order"]["status"] == "cancelled"
            except TimeoutError:
                silent += 1
            await socket.close()
        assert silent == 0, f"{silent} of {len(burst)} first sockets never got their push"
        assert await pushed_across(a, b)

        held_order = await create(a)
        held = await websockets.connect(ws_url(b.url, held_order))
        assert json.loads(await held.recv())["order"]["status"] == "pending"

        private_redis.kill()
        await cancel(a, held_order)  # committed while Redis is down: its push is lost
        await asyncio.to_thread(private_redis.start)

        # The socket open across the outage is told to come back (1012) ...
        frames = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(json.loads(await asyncio.wait_for(held.recv(), 15)))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012, closed.value
        assert frames == []
        # ... and the reconnect reads the change it missed.
        async with websockets.connect(ws_url(b.url, held_order)) as again:
            assert json.loads(await again.recv())["order"]["status"] == "cancelled"

        # New changes travel both ways again, within a few seconds.
        for via, to in ((a, b), (b, a)):
            deadline = time.monotonic() + 15
            while not await pushed_across(via, to):
                assert time.monotonic() < deadline, f"no push {via.name} -> {to.name}"
                await asyncio.sleep(0.5)
        assert "realtime.redis_reconnected" in b.log()
        assert a.alive() and b.alive()
    except BaseException as exc:
        raise AssertionError(
            f"{exc}\n--- a ---\n{tail(a.log_path)}\n--- b ---\n{tail(b.log_path)}"
        ) from exc
    finally:
        a.stop()
        b.stop()
