"""Security headers of the pages shoppers open: the hosted checkout page and the session pages.

Their address carries a signature, so no Referer may leak it, and no other site may frame them
(a framed checkout invites clickjacking). `frame-ancestors` only works as a header, never in a
`<meta>` tag, which is why the page's own meta policy is repeated here.
"""

from __future__ import annotations

import base64
import hashlib

from litestar.datastructures import ResponseHeader

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


def page_headers(csp: str) -> list[ResponseHeader]:
    values = {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return [ResponseHeader(name=name, value=value) for name, value in values.items()]
