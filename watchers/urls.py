"""Node URLs as every chain family's source treats them: how one is named in logs and errors, and
whether it is a WebSocket (push) URL or a plain request URL."""

from __future__ import annotations

import re

_ORIGIN = re.compile(r"^([a-z]+://[^/?#]+)", re.IGNORECASE)


def redact(url: str) -> str:
    """A URL fit for logs and error messages: the scheme and host only, `/…` where more followed.

    Hosted nodes and gateways put API keys in the path or query; a bare trailing slash hides
    nothing and is dropped without the ellipsis.
    """
    match = _ORIGIN.match(url)
    origin = match.group(1) if match else url
    return origin + ("/…" if len(url.rstrip("/")) > len(origin) else "")


def is_websocket(url: str) -> bool:
    """Whether `url` is a `ws://`/`wss://` URL (a push subscription) rather than an HTTP one."""
    return url.lower().startswith(("ws://", "wss://"))


__all__ = ["is_websocket", "redact"]
