"""A receiver answering 500 with an endless body: the sender keeps 500 characters, reads no more
than it keeps, closes the connection, and its memory does not grow (issue 14, item 4)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from app.models import WebhookAttempt
from app.webhooks.sender import MAX_ERROR_TEXT
from tests.conftest import free_port
from tests.webhooks.test_sender import events, make_services, paid_order, run_until

BODY_MIB = 256

SERVER = """
import sys
from aiohttp import web

SIZE = int(sys.argv[2]) * 1024 * 1024
CHUNK = b"x" * (1024 * 1024)
sent = 0

async def hook(request):
    global sent
    await request.read()
    response = web.StreamResponse(status=500, headers={"Content-Type": "text/plain"})
    response.content_length = SIZE
    await response.prepare(request)
    done = 0
    try:
        while done < SIZE:
            await response.write(CHUNK)
            done += len(CHUNK)
            sent = max(sent, done)
    except (ConnectionError, OSError):
        pass
    return response

async def stats(request):
    return web.Response(text=str(sent))

app = web.Application()
app.router.add_post("/hook", hook)
app.router.add_get("/sent", stats)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture
def huge_receiver(tmp_path: Path) -> Iterator[str]:
    """A separate process, so only the sender's memory is measured here."""
    port = free_port()
    script = tmp_path / "huge.py"
    script.write_text(SERVER)
    process = subprocess.Popen([sys.executable, str(script), str(port), str(BODY_MIB)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/sent", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_huge_error_body_is_not_read(database_url: str, huge_receiver: str) -> None:
    services = make_services(database_url, timeout_seconds=30.0)
    await paid_order(services, f"{huge_receiver}/hook")
    baseline = rss_bytes()
    peak = baseline

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        await run_until(services, lambda: False, seconds=0.1)
        async with services.sessionmaker() as session:
            attempts = list(await session.scalars(sa.select(WebhookAttempt)))
        assert attempts, "the attempt was not recorded"
    finally:
        sampler.cancel()
    [attempt] = attempts
    assert attempt.status_code == 500
    assert attempt.error is not None and attempt.error == "x" * MAX_ERROR_TEXT
    [event] = await events(services)
    assert event.status == "pending" and event.last_status_code == 500
    growth_mib = (peak - baseline) / 2**20
    print(f"sender RSS growth {growth_mib:.1f} MiB for a {BODY_MIB} MiB error body")
    assert growth_mib < 32, f"sender RSS grew by {growth_mib:.0f} MiB for a {BODY_MIB} MiB body"
    sent = int(httpx.get(f"{huge_receiver}/sent", timeout=5).text)
    assert sent < BODY_MIB * 2**20 // 2, f"the receiver sent {sent} bytes: the body was drained"
    await services.engine.dispose()
