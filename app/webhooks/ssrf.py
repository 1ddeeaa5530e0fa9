"""Where webhooks may go: never to this machine's network neighbours unless the operator says so.

A merchant's webhook URL is data from outside. Its name is resolved once per connection, by the
sender's HTTP client, through `PinnedResolver`: the addresses it returns are checked there and are
the very addresses the client connects to. Checking one lookup and letting the client do its own
would let a name answer a public address to the check and `127.0.0.1` to the connection (DNS
rebinding). The client still sends `Host:` and TLS SNI for the name and verifies the certificate
against it, so pinning changes where we connect, not whom we talk to.

A literal IP in the URL never reaches a resolver: `check_literal` judges it, at order creation
(400) and again before each delivery.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
"""RFC 6052 well-known prefix: the last 32 bits are an IPv4 address a NAT64 gateway reaches."""
SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")
"""Deprecated site-local unicast (RFC 3879): still routed inside some networks."""


class BlockedTarget(Exception):
    """The URL names, or resolves to, an address webhooks must not reach."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to a v4 host: mapped, 6to4 or NAT64."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    """A global unicast address; an IPv6 address wrapping IPv4 (mapped, 6to4 `2002::/16`, NAT64
    `64:ff9b::/96`) is judged by the IPv4 address it reaches."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in SITE_LOCAL:
            return False
        inner = _embedded_ipv4(ip)
        if inner is not None:
            ip = inner
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _literal_ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


def check_literal(url: str, *, allow_private: bool) -> None:
    """Raise `BlockedTarget` for a non-http(s) URL, or one whose host is a non-public IP literal.
    No DNS here: hostnames are checked when the sender resolves them."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        hostname = None
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not hostname:
        raise BlockedTarget(f"not an http(s) URL: {url!r}")
    if allow_private:
        return
    address = _literal_ip(hostname)
    if address is not None and not is_public(address):
        raise BlockedTarget(
            f"{hostname} is a non-public address (set [webhooks].allow_private_targets to allow)"
        )


class PinnedResolver(AbstractResolver):
    """aiohttp resolver that answers only addresses it has checked: the connector connects to
    exactly what this returns, so the check and the connection see the same lookup. A lookup
    failure stays an `OSError` (aiohttp reports a DNS error, the attempt is retried)."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._threaded: ThreadedResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._threaded is None:
            self._threaded = ThreadedResolver(asyncio.get_running_loop())
        results = await self._threaded.resolve(host, port, family)
        if not self._allow_private:
            for found in results:
                if not is_public(found["host"]):
                    raise BlockedTarget(
                        f"{host} resolves to non-public address {found['host']} "
                        "(set [webhooks].allow_private_targets to allow)"
                    )
        return results

    async def close(self) -> None:
        if self._threaded is not None:
            await self._threaded.close()
