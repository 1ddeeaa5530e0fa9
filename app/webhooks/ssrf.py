"""Where webhooks may go: never to this machine's network neighbours unless the operator says so.

A merchant's webhook URL is data from outside. Resolved at delivery time (DNS can change after the
order was created), every address it resolves to must be a public unicast address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class BlockedTarget(Exception):
    """The URL resolves to an address webhooks must not reach."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


async def check_target(url: str, *, allow_private: bool) -> None:
    """Raise `BlockedTarget` unless every address `url`'s host resolves to may be contacted."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedTarget(f"not an http(s) URL: {url!r}")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise BlockedTarget(f"cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        address = str(info[4][0])
        if not is_public(address):
            raise BlockedTarget(
                f"{parts.hostname} resolves to non-public address {address} "
                "(set [webhooks].allow_private_targets to allow)"
            )
