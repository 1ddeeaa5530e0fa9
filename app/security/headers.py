"""Security headers of the pages shoppers open: the hosted checkout page and the session pages.

Their address carries a signature, so no Referer may leak it, and no other site may frame them
(a framed checkout invites clickjacking). `frame-ancestors` only works as a header, never in a
`<meta>` tag, which is why the page's own meta policy is repeated here.
"""

from __future__ import annotations

import base64
import hashlib

from litestar.enums import ScopeType
from litestar.middleware.base import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

HOSTED_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data:; "
    "connect-src 'self' https: http: wss: ws:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""The policy of `frontend/index.html`'s meta tag, plus `frame-ancestors`."""


def style_hash(css: str) -> str:
    """A CSP source allowing exactly one inline `<style>` block."""
    digest = hashlib.sha256(css.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def inline_style_csp(css: str) -> str:
    """For server-rendered pages whose only asset is one inline stylesheet (and a form to
    themselves, whose redirect may lead to the hosted page, so `form-action` is not narrowed)."""
    return (
        f"default-src 'none'; style-src {style_hash(css)}; base-uri 'none'; frame-ancestors 'none'"
    )


def page_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def page_headers_middleware(csp: str) -> DefineMiddleware:
    """For a Router: its handlers and the static files under it (which take no header layer)."""
    return DefineMiddleware(_PageHeaders, headers=page_headers(csp))


class _PageHeaders:
    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.encoded = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.encoded]
            await send(message)

        await self.app(scope, receive, send_with_headers)
