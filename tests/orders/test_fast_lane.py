"""The create fast lane (app/orders/fast_lane.py) answers as the full Litestar stack does: same
status, headers and body for successes and errors, one request id, one log line and one count per
request, and CORS, compression and the edge check still apply where they did."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.observability import HTTP_REQUESTS
from app.orders.fast_lane import PATH, CreateFastLane, _plain
from tests.helpers import body_bytes, order_body, signed_headers
from tests.orders.test_service_api import create

VIA_APP = "?via=app"
"""A query string makes the lane hand the request to the app untouched: the reference answer."""


def lane_of(client: AsyncTestClient[Any]) -> CreateFastLane:
    lane = client.app.asgi_handler
    assert isinstance(lane, CreateFastLane)
    return lane


def reached_app(client: AsyncTestClient[Any]) -> list[str]:
    """Paths (with query) that the lane passed on to the Litestar stack from now on."""
    lane = lane_of(client)
    inner = lane.app
    seen: list[str] = []

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        seen.append(
            scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        )
        await inner(scope, receive, send)

    lane.app = spy
    return seen


def header_names(response: Any) -> list[str]:
    return [name for name, _ in response.headers.multi_items()]


async def post(client: AsyncTestClient[Any], raw: bytes, query: str = "", **headers: str) -> Any:
    return await client.post(PATH + query, content=raw, headers=headers)


async def test_a_plain_create_skips_the_framework_and_answers_alike(
    client: AsyncTestClient[Any],
) -> None:
    seen = reached_app(client)
    raw = body_bytes(order_body(order_id="lane-1", metadata={"cart": 7}))
    fast = await post(client, raw, **signed_headers(raw))
    assert fast.status_code == 201 and seen == []
    raw2 = body_bytes(order_body(order_id="lane-2", metadata={"cart": 7}))
    slow = await post(client, raw2, VIA_APP, **signed_headers(raw2))
    assert slow.status_code == 201 and seen == [PATH + VIA_APP]
    assert header_names(fast) == header_names(slow)
    for name in ("content-type", "content-length"):
        assert fast.headers[name] == slow.headers[name]
    a, b = fast.json(), slow.json()
    assert list(a) == list(b)
    assert (a["merchant_order_id"], b["merchant_order_id"]) == ("lane-1", "lane-2")
    same = ("amount", "status", "currency", "metadata", "success_url", "cancel_url")
    assert [a[k] for k in same] == [b[k] for k in same]
    assert a["expires_at"] - a["created_at"] == b["expires_at"] - b["created_at"]


@pytest.mark.parametrize(
    ("headers", "raw", "status"),
    [
        ({}, b"{}", 401),
        ({"Ocrch-Signature": "nope"}, b"{}", 400),
        ({"Ocrch-Signature": "1.AAAA"}, b"{}", 400),
        (None, b"not json", 400),
        (None, body_bytes(order_body(amount="0")), 400),
        (None, body_bytes(order_body(webhook_url="http://127.0.0.1/x")), 400),
        ({"Idempotency-Key": ""}, None, 400),
    ],
)
async def test_errors_are_rendered_by_the_app_as_before(
    client: AsyncTestClient[Any],
    headers: dict[str, str] | None,
    raw: bytes | None,
    status: int,
) -> None:
    raw = raw if raw is not None else body_bytes(order_body())
    sent = signed_headers(raw) if headers is None else headers
    if "Idempotency-Key" in sent:
        sent = {**signed_headers(raw), **sent}
    seen = reached_app(client)
    fast = await post(client, raw, **sent)
    slow = await post(client, raw, VIA_APP, **sent)
    assert seen == [PATH, PATH + VIA_APP]  # the error of the lane is rendered by the app
    assert (fast.status_code, slow.status_code) == (status, status)
    assert fast.text and fast.text == slow.text
    assert header_names(fast) == header_names(slow)
    assert fast.headers["content-type"] == slow.headers["content-type"]


async def test_one_request_id_one_log_line_one_count(
    client: AsyncTestClient[Any], caplog: pytest.LogCaptureFixture
) -> None:
    raw = body_bytes(order_body(order_id="ids"))
    counted = HTTP_REQUESTS.labels("POST", "401")._value.get()
    with caplog.at_level(logging.INFO, logger="app.http"):
        ok = await post(client, raw, **signed_headers(raw), **{"X-Request-Id": "ticket-7"})
        bad = await post(client, raw, **{"Content-Type": "application/json"})
    assert ok.status_code == 201 and bad.status_code == 401
    assert ok.headers.get_list("x-request-id") == ["ticket-7"]
    assert len(bad.headers.get_list("x-request-id")) == 1
    assert len(bad.headers["x-request-id"]) == 32
    lines = [r for r in caplog.records if r.getMessage() == "http.request"]
    assert [(r.status, r.path) for r in lines] == [(201, PATH), (401, PATH)]  # type: ignore[attr-defined]
    assert HTTP_REQUESTS.labels("POST", "401")._value.get() == counted + 1


async def test_cors_replays_and_compression_still_go_through_the_app(
    client: AsyncTestClient[Any],
) -> None:
    seen = reached_app(client)
    origin = "https://checkout.example.com"  # allowed by the test config
    raw = body_bytes(order_body(order_id="cors"))
    cors = await post(client, raw, **signed_headers(raw), Origin=origin)
    assert cors.status_code == 201 and cors.headers["access-control-allow-origin"] == origin
    assert seen == [PATH]

    raw = body_bytes(order_body(order_id="replayed"))
    first = await create(client, raw, **{"Idempotency-Key": "lane-key"})
    again = await create(client, raw, **{"Idempotency-Key": "lane-key"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert "idempotent-replayed" not in first.headers

    big = body_bytes(order_body(order_id="big", metadata={"note": "x" * 2000}))
    zipped = await post(client, big, **signed_headers(big), **{"Accept-Encoding": "gzip"})
    assert zipped.status_code == 201 and zipped.headers["content-encoding"] == "gzip"
    assert zipped.json()["metadata"] == {"note": "x" * 2000}
    small = body_bytes(order_body(order_id="small"))
    plain = await post(client, small, **signed_headers(small), **{"Accept-Encoding": "gzip"})
    assert plain.status_code == 201 and "content-encoding" not in plain.headers
    assert seen == [PATH, PATH, PATH]  # the cors request, the replay, the gzipped answer


def scope_with(*headers: tuple[bytes, bytes], query: bytes = b"") -> Any:
    return {"type": "http", "headers": list(headers), "query_string": query, "root_path": ""}


def test_what_the_lane_leaves_to_the_app() -> None:
    sig = (b"ocrch-signature", b"1.abc")
    taken = _plain(scope_with((b"host", b"shop.example.com"), sig, (b"idempotency-key", b"k")))
    assert taken is not None and (taken.signature, taken.key) == ("1.abc", "k")
    for refused in (
        scope_with(sig, (b"origin", b"https://checkout.example.com")),  # CORS
        scope_with(sig, (b"x-note", b"a\x00b")),  # the edge check's NUL
        scope_with(sig, query=b"a=1"),  # the edge check reads query strings
        scope_with(sig, sig),  # which one would the app read?
        scope_with(sig, (b"host", b"bad host/")),  # Litestar's host check
        scope_with(sig, (b"content-length", b"12x")),
    ):
        assert _plain(refused) is None
