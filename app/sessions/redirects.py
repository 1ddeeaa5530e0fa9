"""Where a shopper may be sent back to: no open redirects through our hosted page.

A `success_url`/`cancel_url` must be an absolute https URL (http only to a loopback host, for local
development). The merchant who names it is authenticated by a secret key, so any host is accepted
by default, as Stripe does; `[checkout_sessions].redirect_allowed_hosts`, when set, narrows it to
the shop's own hosts. Anything a browser could read differently from Python (backslashes, control
characters, spaces, credentials) is refused outright.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from app.config import Settings
from app.errors import InvalidInput

PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
MAX_URL = 2048
_LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(host: str, allowed: list[str]) -> bool:
    for pattern in allowed:
        pattern = pattern.strip().lower().rstrip(".")
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]:
            return True
    return False


def check_redirect_url(name: str, value: str, settings: Settings) -> None:
    """Raise a 400 naming `name` unless `value` is a safe place to send the shopper."""
    if len(value) > MAX_URL:
        raise InvalidInput(f"{name} is longer than {MAX_URL} characters", param=name)
    probe = value.replace(PLACEHOLDER, "cs_test_placeholder")
    if any(ch == "\\" or ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in probe):
        raise InvalidInput(
            f"{name} contains a backslash, a space or a control character", param=name
        )
    try:
        parts = urlsplit(probe)
        host = (parts.hostname or "").lower().rstrip(".")
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise InvalidInput(f"{name} is not a valid URL", param=name) from None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput(f"{name} must be an absolute https:// URL", param=name)
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(f"{name} must not contain a user name or password", param=name)
    if parts.scheme == "http" and not is_loopback(host):
        raise InvalidInput(
            f"{name} must use https:// (http:// only to a loopback host, for development)",
            param=name,
        )
    allowed = settings.checkout_sessions.redirect_allowed_hosts
    if allowed and not host_allowed(host, allowed):
        raise InvalidInput(
            f"{name} points at {host}, which is not in [checkout_sessions].redirect_allowed_hosts "
            f"(allowed: {', '.join(allowed)})",
            param=name,
        )


def fill(template: str | None, session_id: str) -> str | None:
    return template.replace(PLACEHOLDER, session_id) if template is not None else None
