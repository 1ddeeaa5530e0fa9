"""Metrics, request ids, structured logs and health, through a real server."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx

from app.observability import JsonFormatter, RequestIdFilter, request_id_var
from tests.conftest import ServerProcess, settings_dict, start_server, write_config
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


async def test_metrics_change_after_orders(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = (await http.get("/metrics")).text
        assert metric(before, 'stablecheckout_orders{status="pending"}') == 0
        raw = body_bytes(order_body())
        order_id = (
            await http.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))
        ).json()["order_id"]
        await http.post(
            f"/api/v1/user/orders/{order_id}/cancel", headers=user_headers(checkout_url(order_id))
        )
        after = (await http.get("/metrics")).text
        assert metric(after, 'stablecheckout_orders{status="cancelled"}') == 1
        assert (
            metric(after, 'stablecheckout_webhook_events{status="pending"}')
            + metric(after, 'stablecheckout_webhook_events{status="delivered"}')
            + metric(after, 'stablecheckout_webhook_events{status="failed"}')
            == 1
        )
        assert metric(after, 'stablecheckout_http_requests_total{method="POST",status="201"}') >= 1
        assert "stablecheckout_detection_latency_seconds" in after


async def test_request_id_echoed(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        given = await http.get("/health", headers={"X-Request-Id": "support-ticket-42"})
        assert given.headers["x-request-id"] == "support-ticket-42"
        fresh = await http.get("/health")
        assert len(fresh.headers["x-request-id"]) == 32


async def test_health_reports_database_and_redis(
    postgresql_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", settings_dict(postgresql_database_url))
    server = start_server(
        config,
        postgresql_database_url,
        tmp_path / "s.log",
        "--api-only",
        env={"REDIS_URL": redis_url},
    )
    try:
        body = httpx.get(f"{server.url}/health").json()
        assert body["status"] == "healthy" and body["database"] == "ok" and body["redis"] == "ok"
        assert isinstance(body["watchers"], dict)
    finally:
        server.stop()
    broken = start_server(
        config,
        postgresql_database_url,
        tmp_path / "b.log",
        "--api-only",
        env={"REDIS_URL": "redis://127.0.0.1:1/0"},
        ready=(503,),
    )
    try:
        response = httpx.get(f"{broken.url}/health")
        assert response.status_code == 503 and response.json()["redis"].startswith("error")
    finally:
        broken.stop()


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("app.http", logging.INFO, __file__, 1, "http.request", None, None)
    record.status = 201
    token = request_id_var.set("abc123")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "http.request" and line["request_id"] == "abc123"
    assert line["status"] == 201 and line["level"] == "info"
