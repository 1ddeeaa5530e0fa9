"""Limits against a real `stablecheckout serve` process (issue 14, items 5, 6, 7): admin secret
guessing, WebSocket caps and upgrade rate limit, slow clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.conftest import ADMIN_SECRET, ServerProcess, settings_dict, start_server, write_config
from tests.realtime.test_websocket import create_order, ws_url

ADMIN_ORDERS = "/api/v1/admin/orders"
StartServer = Callable[..., ServerProcess]


@pytest.fixture
def start(sqlite_database_url: str, tmp_path: Path) -> Iterator[StartServer]:
    """`start(**sections)`: a serve process whose config has these sections merged in."""
    started: list[ServerProcess] = []

    def run(**sections: Any) -> ServerProcess:
        data = settings_dict(sqlite_database_url, **sections)
        config = write_config(tmp_path / f"config{len(started)}.toml", data)
        server = start_server(config, sqlite_database_url, tmp_path / f"serve{len(started)}.log")
        started.append(server)
        return server

    yield run
    for server in started:
        server.stop()


async def _health_times(base: str, stop: asyncio.Event) -> list[float]:
    times: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while not stop.is_set():
            began = time.perf_counter()
            assert (await http.get("/health")).status_code == 200
            times.append(time.perf_counter() - began)
            await asyncio.sleep(0.02)
    return times


async def test_admin_secret_guessing_is_limited_before_argon2(start: StartServer) -> None:
    server = start(
        security={
            "admin_auth_attempts_per_window": 5,
            "admin_auth_attempts_per_window_total": 1000,
            "admin_auth_window_seconds": 4,
        }
    )
    stop = asyncio.Event()
    health = asyncio.create_task(_health_times(server.url, stop))
    began = time.perf_counter()
    async with httpx.AsyncClient(
        base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=40)
    ) as http:
        answers = await asyncio.gather(
            *[
                http.get(ADMIN_ORDERS, headers={"Ocrch-Admin-Authorization": f"guess-{n}"})
                for n in range(120)
            ]
        )
        burst = time.perf_counter() - began
        stop.set()
        times = await health
        codes = [a.status_code for a in answers]
        # A fixed window may turn over once during the burst: at most two windows' worth of
        # argon2 runs, every other guess refused before hashing.
        assert set(codes) == {401, 429}, codes
        assert codes.count(401) <= 10, codes
        limited = next(a for a in answers if a.status_code == 429)
        assert limited.text == "rate limit exceeded, retry later"
        assert 1 <= int(limited.headers["retry-after"]) <= 4
        assert burst < 10, f"120 guesses took {burst:.1f} s"
        # Unlimited, 300 guesses stalled /health for 4.3 s on the 2-core test machine.
        assert times and max(times) < 2.0, f"/health took up to {max(times):.2f} s"
        # The right secret from the locked-out client waits for the window like any other...
        right = {"Ocrch-Admin-Authorization": ADMIN_SECRET}
        refused = await http.get(ADMIN_ORDERS, headers=right)
        if refused.status_code == 429:
            await asyncio.sleep(int(refused.headers["retry-after"]) + 0.2)
        # ...and works once it has passed.
        assert (await http.get(ADMIN_ORDERS, headers=right)).status_code == 200
    assert "Traceback" not in server.log()


async def test_admin_overall_limit_spans_clients(start: StartServer) -> None:
    """Guesses spread over many addresses (behind a trusted proxy) meet the overall limit."""
    server = start(
        server={"trusted_proxies": ["127.0.0.1/32"]},
        security={
            "admin_auth_attempts_per_window": 1000,
            "admin_auth_attempts_per_window_total": 6,
            "admin_auth_window_seconds": 30,
        },
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        codes = []
        for n in range(15):
            headers = {"Ocrch-Admin-Authorization": "wrong", "X-Forwarded-For": f"198.51.100.{n}"}
            codes.append((await http.get(ADMIN_ORDERS, headers=headers)).status_code)
    assert codes.count(401) <= 12 and codes[-3:] == [429] * 3, codes


async def test_websocket_caps_per_order_and_per_client(start: StartServer) -> None:
    server = start(security={"websocket_max_per_order": 3, "websocket_max_per_client": 5})
    first, second, third = [await create_order(server.url) for _ in range(3)]
    held = [await websockets.connect(ws_url(server.url, first)) for _ in range(3)]
    try:
        for socket in held:
            await socket.recv()
        with pytest.raises(InvalidStatus) as info:
            await websockets.connect(ws_url(server.url, first))
        assert info.value.response.status_code == 429
        assert bytes(info.value.response.body) == (
            b"too many open WebSockets for this order (limit 3)"
        )
        held += [await websockets.connect(ws_url(server.url, second)) for _ in range(2)]
        with pytest.raises(InvalidStatus) as info:
            await websockets.connect(ws_url(server.url, third))
        assert info.value.response.status_code == 429
        assert bytes(info.value.response.body) == (
            b"too many open WebSockets for this client (limit 5)"
        )
        await held.pop(0).close()
        await asyncio.sleep(0.3)
        again = await websockets.connect(ws_url(server.url, first))
        held.append(again)
        assert '"status_update"' in str(await again.recv()), "a closed socket frees its slot"
    finally:
        for socket in held:
            await socket.close()


async def test_websocket_upgrades_share_the_user_api_rate_limit(start: StartServer) -> None:
    server = start(
        security={"user_rate_limit_per_minute": 4, "websocket_max_per_order": 100},
    )
    order_id = await create_order(server.url)
    opened = 0
    statuses: list[int] = []
    for _ in range(6):
        try:
            async with websockets.connect(ws_url(server.url, order_id)) as socket:
                await socket.recv()
                opened += 1
        except InvalidStatus as exc:
            statuses.append(exc.response.status_code)
            assert exc.response.headers["retry-after"]
    assert 1 <= opened <= 4 and statuses and set(statuses) == {429}
    assert opened + len(statuses) == 6


async def _open(server: ServerProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = server.url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def _trickle(
    data: bytes, server: ServerProcess, every: float, head: bytes = b""
) -> tuple[float, bytes]:
    """Send `head` at once, then `data` one byte at a time; the seconds until the server
    closed, and what it answered."""
    reader, writer = await _open(server)
    began = time.perf_counter()
    writer.write(head)

    async def drip() -> None:
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)

    dripping = asyncio.create_task(drip())
    try:
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        dripping.cancel()
        writer.close()
    return time.perf_counter() - began, answer


async def test_slow_clients_are_cut_off_and_normal_requests_pass(start: StartServer) -> None:
    server = start(server={"header_timeout_seconds": 1.5, "body_timeout_seconds": 2.5})
    slow_headers = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200
    body_head = (
        b"POST /api/v1/service/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Ocrch-Signature: t=1,v1=00\r\nContent-Length: 500\r\n\r\n"
    )
    silent_reader, silent_writer = await _open(server)
    began = time.perf_counter()
    trickles = [_trickle(slow_headers, server, 0.2) for _ in range(20)]
    trickles += [_trickle(b"{" * 200, server, 0.2, body_head) for _ in range(20)]
    running = asyncio.gather(*trickles)
    await asyncio.sleep(0.5)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert (await http.get("/health")).status_code == 200
    results = await running
    silent = await asyncio.wait_for(silent_reader.read(), 30)
    silent_after = time.perf_counter() - began
    silent_writer.close()
    for took, answer in results[:20]:
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert 1.4 < took < 6, took
    for took, answer in results[20:]:
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert 2.4 < took < 8, took
    assert silent.startswith(b"HTTP/1.1 408 ") and silent_after < 6
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert (await http.get("/health")).status_code == 200
    assert "Traceback" not in server.log()


async def test_connection_cap_answers_503(start: StartServer) -> None:
    server = start(server={"max_connections": 4, "header_timeout_seconds": 2})
    idle = [await _open(server) for _ in range(4)]
    try:
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            assert (await http.get("/health")).status_code == 503
            for reader, _ in idle:  # the header deadline frees them
                await asyncio.wait_for(reader.read(), 10)
            assert (await http.get("/health")).status_code == 200
    finally:
        for _, writer in idle:
            writer.close()


async def test_default_limits_refuse_what_an_unlimited_server_allowed(start: StartServer) -> None:
    """With no limit configured at all: a silent connection is cut off, the 11th socket on one
    order and the burst of admin guesses and QR requests are refused (main accepted them all)."""
    server = start()
    silent_reader, silent_writer = await _open(server)
    began = time.perf_counter()

    async def cut_off() -> tuple[bytes, float]:
        answer = await asyncio.wait_for(silent_reader.read(), 30)
        return answer, time.perf_counter() - began

    silent = asyncio.create_task(cut_off())
    order_id = await create_order(server.url)
    held = [await websockets.connect(ws_url(server.url, order_id)) for _ in range(10)]
    try:
        with pytest.raises(InvalidStatus) as info:
            await websockets.connect(ws_url(server.url, order_id))
        assert info.value.response.status_code == 429
    finally:
        for socket in held:
            await socket.close()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        # Limits count in fixed windows (10 guesses a minute here): a burst that crosses a
        # window boundary starts counting again, so guess until refused, at most 21 times.
        codes: list[int] = []
        while len(codes) < 21 and 429 not in codes:
            guess = {"Ocrch-Admin-Authorization": f"g{len(codes)}"}
            codes.append((await http.get(ADMIN_ORDERS, headers=guess)).status_code)
        assert codes[-1] == 429 and set(codes[:-1]) == {401} and len(codes) >= 11, codes
        # 120 a minute in fixed clock-minute windows: a burst that crosses a minute boundary
        # starts counting again, so ask until refused, at most two windows' worth and one.
        qr: list[int] = []
        while len(qr) < 241 and 429 not in qr:
            answer = await http.get("/checkout/qr.svg", params={"data": "ethereum:0x1"})
            qr.append(answer.status_code)
        assert qr[0] == 200 and qr[-1] == 429 and set(qr[:-1]) == {200}, qr
        assert len(qr) >= 121, len(qr)
    answer, after = await silent
    silent_writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ") and 9 < after < 15, (answer, after)
