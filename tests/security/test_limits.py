"""The one rate limiter: the client address behind trusted proxies, in-memory and Redis counters,
and two app instances sharing a limit through Redis (issue 14, item 11)."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import httpx
import pytest

from app.config import ConfigError, load_settings
from app.http import services_of
from app.main import create_app
from app.security.limits import (
    ConnectionSlots,
    Limit,
    MemoryLimiter,
    RedisLimiter,
    client_address,
    parse_networks,
)
from tests.conftest import settings_dict
from tests.helpers import checkout_url, user_headers

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1", "fd00::/8"])
USER = "/api/v1/user"


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", [], "203.0.113.9"),
        # An untrusted peer's header is the client's own claim: ignored.
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        # Rightmost untrusted hop: what the client wrote on the left proves nothing.
        ("127.0.0.1", ["1.2.3.4, 198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["1.2.3.4, 198.51.100.1, 10.1.2.3"], "198.51.100.1"),
        ("127.0.0.1", ["1.2.3.4", "198.51.100.1, 10.1.2.3"], "198.51.100.1"),
        ("127.0.0.1", ["10.9.9.9, 10.1.2.3"], "10.9.9.9"),
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["not-an-ip, 198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["198.51.100.1, garbage"], "127.0.0.1"),
        ("fd00::1", ["2001:db8::7"], "2001:db8::7"),
        ("::ffff:127.0.0.1", ["[2001:db8::8]:443"], "2001:db8::8"),
        ("127.0.0.1", ["198.51.100.1:5555"], "198.51.100.1"),
        (None, ["198.51.100.1"], "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], expected: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], []) == "127.0.0.1"


def test_trusted_proxies_are_validated(sqlite_database_url: str) -> None:
    data = settings_dict(sqlite_database_url, server={"trusted_proxies": ["10.0.0.0/8", "::1"]})
    assert load_settings(None, **data).server.trusted_proxies == ["10.0.0.0/8", "::1/128"]
    bad = settings_dict(sqlite_database_url, server={"trusted_proxies": ["10.0.0.300/8"]})
    with pytest.raises(ConfigError, match=r"trusted_proxies.*is not an IP address or CIDR"):
        load_settings(None, **bad)


async def test_memory_limiter_counts_per_key_and_window() -> None:
    limiter = MemoryLimiter(max_keys=2)
    limit = Limit("t", 2, 10.0)
    assert [limiter.hit_now(limit, "a", 100.0).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit_now(limit, "b", 101.0).allowed
    denied = limiter.hit_now(limit, "a", 105.5)
    assert not denied.allowed and denied.reset_seconds == pytest.approx(4.5)
    assert denied.headers()["Retry-After"] == "5"
    assert limiter.hit_now(limit, "a", 110.0).allowed, "a new window starts afresh"
    # Past max_keys, new clients share one counter instead of growing the table.
    for key in "cde":  # "a" and "c" fill the table; "d" and "e" share the overflow
        assert limiter.hit_now(limit, key, 111.0).allowed
    assert not limiter.hit_now(limit, "f", 111.0).allowed
    assert (await limiter.hit(Limit("off", 0, 10.0), "a")).allowed


async def test_redis_limiter_is_shared_and_falls_back(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}"
    first, second = RedisLimiter(redis_url, prefix), RedisLimiter(redis_url, prefix)
    limit = Limit("t", 3, 60.0)
    try:
        results = [await (first if n % 2 else second).hit(limit, "k") for n in range(4)]
        assert [r.allowed for r in results] == [True, True, True, False]
        assert 0 < results[-1].reset_seconds <= 60
        ttl = await first.redis.pttl(f"{prefix}:t:{int(time.time() // 60)}:k")
        assert 0 < ttl <= 61_000, "keys expire with their window"
    finally:
        await first.redis.delete(*await first.redis.keys(f"{prefix}:*"))
        await first.close()
        await second.close()
    down = RedisLimiter("redis://127.0.0.1:1/0", prefix)
    try:
        assert [(await down.hit(limit, "k")).allowed for _ in range(4)] == [True] * 3 + [False]
    finally:
        await down.close()


def test_connection_slots() -> None:
    slots = ConnectionSlots()
    caps = {"order:1": 2, "client:a": 3}
    assert slots.try_acquire(caps) is None and slots.try_acquire(caps) is None
    assert slots.try_acquire(caps) == "order:1"
    assert slots.try_acquire({"order:2": 2, "client:a": 3}) is None
    assert slots.try_acquire({"order:3": 2, "client:a": 3}) == "client:a"
    assert slots.count("order:3") == 0, "a refused connection holds nothing"
    slots.release(caps)
    assert slots.count("order:1") == 1 and slots.count("client:a") == 2
    assert slots.try_acquire({"order:9": 0, "client:b": 0}) is None


def _client(app: Any, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_two_instances_share_the_user_limit_through_redis(
    sqlite_database_url: str, redis_url: str
) -> None:
    """Two replicas behind one proxy: the shopper's address comes from X-Forwarded-For, and the
    limit counts the shopper's requests on both together."""
    data = settings_dict(
        sqlite_database_url,
        server={"trusted_proxies": ["127.0.0.1/32"]},
        security={"user_rate_limit_per_minute": 4},
        redis_url=redis_url,
    )
    apps = [create_app(load_settings(None, **data)) for _ in range(2)]
    shopper = f"2001:db8:{random.randrange(1 << 16):x}::{random.randrange(1 << 16):x}"
    other = f"2001:db8:{random.randrange(1 << 16):x}::1"
    headers = user_headers(checkout_url("x"))
    try:
        async with _client(apps[0], "127.0.0.1") as a, _client(apps[1], "127.0.0.1") as b:
            codes = []
            for n in range(5):
                response = await (a if n % 2 else b).get(
                    f"{USER}/chains", headers={**headers, "X-Forwarded-For": f"1.1.1.1, {shopper}"}
                )
                codes.append(response.status_code)
            assert codes == [200] * 4 + [429]
            assert response.text == "rate limit exceeded, retry later"
            assert 1 <= int(response.headers["retry-after"]) <= 60
            fresh = await a.get(f"{USER}/chains", headers={**headers, "X-Forwarded-For": other})
            assert fresh.status_code == 200, "another shopper behind the same proxy has a bucket"
        # Without trusting the proxy, X-Forwarded-For is ignored: the peer is the client.
        async with _client(apps[0], "198.51.100.77") as direct:
            spoofed = await direct.get(
                f"{USER}/chains", headers={**headers, "X-Forwarded-For": shopper}
            )
            assert spoofed.status_code == 200
    finally:
        for app in apps:
            await services_of(app.state).limiter.close()
