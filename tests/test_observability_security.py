"""What an operator's surfaces leak (issue 14, item 16): signatures in logs at any level, and
`/metrics` to anyone. Both against a real `stablecheckout serve` process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import websockets
from litestar.testing import AsyncTestClient

from app.config import load_settings
from app.main import create_app
from app.observability import redact
from tests.conftest import (
    ServerProcess,
    settings_dict,
    start_serve,
    start_server,
    write_config,
)
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers

TOKEN = "metrics-token-for-tests-0123456789"


def test_redact_query_strings_and_credential_headers() -> None:
    line = "< GET /api/v1/user/orders/x/ws?signed_url=https%3A%2F%2Fa&signature=1.abc HTTP/1.1"
    assert redact(line) == "< GET /api/v1/user/orders/x/ws?[redacted] HTTP/1.1"
    assert redact("< Ocrch-Signature: 1711900800.abc") == "< Ocrch-Signature: [redacted]"
    assert redact('"GET https://a.example/checkout/?order_id=1&sig=2" 200') == (
        '"GET https://a.example/checkout/?[redacted]" 200'
    )
    assert redact("no query here") == "no query here"


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_debug_logs_carry_no_signature(
    sqlite_database_url: str, tmp_path: Path, log_format: str
) -> None:
    config = write_config(tmp_path / "c.toml", settings_dict(sqlite_database_url))
    server = start_debug_server(config, sqlite_database_url, tmp_path / "s.log", log_format)
    try:
        raw = body_bytes(order_body(order_id=f"ord-{time.time_ns()}"))
        async with httpx.AsyncClient(base_url=server.url) as http:
            created = await http.post(
                "/api/v1/service/orders", content=raw, headers=signed_headers(raw)
            )
            order_id = created.json()["order_id"]
            signed = checkout_url(order_id)
            signature = user_headers(signed)["Ocrch-Signature"]
            query = urlencode({"signed_url": signed, "signature": signature})
            await http.get(f"/api/v1/user/orders/{order_id}?{query}")
        ws = f"{server.url.replace('http://', 'ws://')}/api/v1/user/orders/{order_id}/ws?{query}"
        async with websockets.connect(ws) as socket:
            assert '"status_update"' in str(await socket.recv())
        async with websockets.connect(ws.replace("signature=", "signature=x")) as refused:
            await refused.wait_closed()
    except websockets.InvalidStatus:
        pass
    finally:
        server.stop()
    log = server.log()
    assert "/ws?[redacted]" in log, log[-3000:]  # the upgrade lines are there, redacted
    assert signature.split(".")[1][:20] not in log
    assert "signed_url=" not in log and "signature=" not in log


def start_debug_server(
    config: Path, database_url: str, log_path: Path, log_format: str
) -> ServerProcess:
    """`stablecheckout --log-level debug serve` (the level is a global option, before `serve`)."""
    env = {"DATABASE_URL": database_url, "STABLECHECKOUT_LOG_FORMAT": log_format}
    argv = ["-c", str(config), "--migrate"]
    return start_serve(argv, log_path, env, before=("--log-level", "debug"))


@pytest.fixture
def metrics_server(sqlite_database_url: str, tmp_path: Path) -> Any:
    data = settings_dict(sqlite_database_url, metrics={"token": TOKEN})
    server = start_server(
        write_config(tmp_path / "c.toml", data), sqlite_database_url, tmp_path / "l"
    )
    yield server
    server.stop()


def test_metrics_demand_the_token(metrics_server: ServerProcess) -> None:
    url = f"{metrics_server.url}/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    scraped = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200 and "stablecheckout_orders" in scraped.text


def test_metrics_without_token_answer_loopback_only(server: ServerProcess) -> None:
    url = f"{server.url}/metrics"
    assert httpx.get(url).status_code == 200  # a local Prometheus or curl on the host
    proxied = httpx.get(url, headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403 and "[metrics].token" in proxied.text


async def test_metrics_refuse_a_remote_peer(sqlite_database_url: str) -> None:
    """The in-process client's peer is `testclient`, not a loopback address."""
    settings = load_settings(None, **settings_dict(sqlite_database_url))
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["error"]["message"].startswith("metrics answer loopback clients only")
