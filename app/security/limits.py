"""The one rate-limiting mechanism: who the client is, and how many hits it has left.

Every limit (User API, WebSocket upgrades, admin secret attempts, QR codes) goes through
`RateLimiter.hit`, keyed by `client_address`. With Redis configured the counters live there, so
replicas behind one proxy share them; otherwise each process counts in memory. The window is fixed
(numbered from the epoch), so all replicas agree on when it resets without talking to each other.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from litestar.exceptions import TooManyRequestsException

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("app.limits")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN_CLIENT = "unknown"


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    """CIDRs (or single addresses) as networks; raises ValueError naming the bad entry."""
    networks: list[IPNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR network") from None
    return networks


def _address(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:5123"
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str:
    """The address a limit is keyed on.

    The TCP peer, unless it is one of `trusted` proxies: then `X-Forwarded-For` is read from the
    right, skipping trusted hops, and the first untrusted hop is the client (entries further left
    were written by the client itself and prove nothing). If every hop is trusted, the leftmost.
    """
    address = _address(peer) if peer else None
    if address is None:
        return peer or UNKNOWN_CLIENT
    if not trusted or not _trusted(address, trusted):
        return str(address)
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        hop_address = _address(hop)
        if hop_address is None:
            return str(address)  # garbage in the chain: fall back to the last hop we trust
        address = hop_address
        if not _trusted(address, trusted):
            return str(address)
    return str(address)


@functools.lru_cache(maxsize=16)
def _networks(values: tuple[str, ...]) -> list[IPNetwork]:
    return parse_networks(values)


def scope_client(scope: Mapping[str, Any], trusted_proxies: Sequence[str]) -> str:
    """`client_address` of an ASGI scope (HTTP or WebSocket), given `[server].trusted_proxies`."""
    trusted = _networks(tuple(trusted_proxies))
    client = scope.get("client")
    peer = str(client[0]) if client else None
    forwarded = [
        value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if name.lower() == b"x-forwarded-for"
    ]
    return client_address(peer, forwarded, trusted)


@dataclass(frozen=True)
class Limit:
    """`count` hits per `window` seconds per key, under the name `name` (0 = unlimited)."""

    name: str
    count: int
    window: float

    @property
    def enabled(self) -> bool:
        return self.count > 0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float

    def headers(self) -> dict[str, str]:
        """`Retry-After` plus the IETF draft `RateLimit-*` fields."""
        reset = str(max(1, math.ceil(self.reset_seconds)))
        return {
            "Retry-After": reset,
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": reset,
        }

    def raise_if_denied(self) -> None:
        if not self.allowed:
            raise TooManyRequestsException(headers=self.headers())


ALLOW = Decision(True, 0, 0, 0.0)


def _window(limit: Limit, now: float) -> tuple[int, float]:
    index = int(now // limit.window)
    return index, (index + 1) * limit.window - now


class RateLimiter(Protocol):
    async def hit(self, limit: Limit, key: str) -> Decision: ...

    async def close(self) -> None: ...


class MemoryLimiter:
    """Counters in this process. Old windows are dropped as time moves on; past `max_keys` keys
    in one window, new clients share one overflow counter, so memory stays bounded."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._windows: dict[str, tuple[int, dict[str, int]]] = {}

    async def hit(self, limit: Limit, key: str) -> Decision:
        return self.hit_now(limit, key, time.time())

    def hit_now(self, limit: Limit, key: str, now: float) -> Decision:
        if not limit.enabled:
            return ALLOW
        index, reset = _window(limit, now)
        current = self._windows.get(limit.name)
        if current is None or current[0] != index:
            current = (index, {})
            self._windows[limit.name] = current
        counts = current[1]
        if key not in counts and len(counts) >= self.max_keys:
            key = "*overflow*"
        counts[key] = count = counts.get(key, 0) + 1
        return _decide(limit, count, reset)

    async def close(self) -> None:
        self._windows.clear()


_INCR = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class RedisLimiter:
    """Counters in Redis (`INCR` + `PEXPIRE` in one script), shared by every replica. While Redis
    is unreachable the process counts on its own (`fallback`) rather than refusing everyone, and
    tries Redis again every `retry_seconds`, so requests do not each wait on a dead connection."""

    def __init__(
        self, url: str, prefix: str = "stablecheckout:rl", retry_seconds: float = 5.0
    ) -> None:
        from redis.asyncio import Redis

        self.redis: Redis = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self.prefix = prefix
        self.retry_seconds = retry_seconds
        self.fallback = MemoryLimiter()
        self._script = self.redis.register_script(_INCR)
        self._down_until: float | None = None

    async def hit(self, limit: Limit, key: str) -> Decision:
        if not limit.enabled:
            return ALLOW
        now = time.time()
        if self._down_until is not None and now < self._down_until:
            return self.fallback.hit_now(limit, key, now)
        index, reset = _window(limit, now)
        redis_key = f"{self.prefix}:{limit.name}:{index}:{key}"
        ttl_ms = max(1, math.ceil(reset * 1000)) + 1000
        try:
            count = int(await self._script(keys=[redis_key], args=[ttl_ms]))
        except Exception as exc:  # noqa: BLE001 - any Redis failure: count locally meanwhile
            if self._down_until is None:
                log.warning("limits.redis_unavailable error=%s", type(exc).__name__)
            self._down_until = time.time() + self.retry_seconds
            return self.fallback.hit_now(limit, key, now)
        if self._down_until is not None:
            self._down_until = None
            log.info("limits.redis_back")
        return _decide(limit, count, reset)

    async def close(self) -> None:
        await self.redis.aclose()


def _decide(limit: Limit, count: int, reset: float) -> Decision:
    return Decision(count <= limit.count, limit.count, max(0, limit.count - count), reset)


def make_limiter(redis_url: str | None) -> RateLimiter:
    return RedisLimiter(redis_url) if redis_url else MemoryLimiter()


class ConnectionSlots:
    """Open long-lived connections (order WebSockets) counted per key in this process: a cap on
    what one order or one client holds open at once, released when the connection ends."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def try_acquire(self, caps: Mapping[str, int]) -> str | None:
        """Take one slot under every key (cap 0: unlimited), or none and return the full key."""
        for key, cap in caps.items():
            if cap and self._counts.get(key, 0) >= cap:
                return key
        for key in caps:
            self._counts[key] = self._counts.get(key, 0) + 1
        return None

    def release(self, keys: Iterable[str]) -> None:
        for key in keys:
            left = self._counts.get(key, 0) - 1
            if left > 0:
                self._counts[key] = left
            else:
                self._counts.pop(key, None)

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)
