"""The hosted checkout page (`frontend/`, served at `/checkout/`) and the two things it asks of us:
a QR code drawn here (no third-party service ever sees a payment link) and its settings."""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Annotated, Any

import anyio
import segno
from litestar import MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.router import Router
from litestar.static_files import create_static_files_router

from app.errors import InvalidInput
from app.http import services_of
from app.security.headers import HOSTED_PAGE_CSP, page_headers_middleware
from app.security.limits import Limit
from app.security.rate_limit import enforce

FRONTEND_DIR = Path(__file__).resolve().parent.parent.parent / "frontend"
MAX_QR_DATA = 1024
QR_CACHE_SIZE = 256
"""SVGs kept (each at most ~60 KiB for 1,024 characters): a page asks for the same link again on
every reload and option switch, and rendering is pure Python at tens of milliseconds."""


def qr_svg(data: str) -> bytes:
    if not data or len(data) > MAX_QR_DATA:
        raise InvalidInput(f"data must be 1 to {MAX_QR_DATA} characters", param="data")
    return _render(data)


@functools.lru_cache(maxsize=QR_CACHE_SIZE)
def _render(data: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(data, error="m", micro=False).save(
        buffer, kind="svg", border=4, xmldecl=False, omitsize=True, title="Payment QR code"
    )
    return buffer.getvalue()


@get(
    "/checkout/qr.svg",
    media_type="image/svg+xml",
    tags=["Checkout page"],
    summary="QR code of a payment link",
    cache_control=None,
)
async def checkout_qr(
    request: Request[Any, Any, Any],
    text: Annotated[str, QueryParameter(name="data", max_length=MAX_QR_DATA)],
) -> Response[bytes]:
    """Unauthenticated, so limited per client (`[security].qr_rate_limit_per_minute`), and
    drawn in a worker thread (cached by content) so the event loop keeps serving meanwhile."""
    per_minute = services_of(request.app.state).settings.security.qr_rate_limit_per_minute
    await enforce(request.scope, Limit("qr", per_minute, 60.0))
    svg = await anyio.to_thread.run_sync(qr_svg, text)
    return Response(
        svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )


@get(
    "/checkout/config.json",
    media_type=MediaType.JSON,
    tags=["Checkout page"],
    summary="Settings the hosted page reads at start",
)
async def checkout_config(state: State) -> dict[str, str | None]:
    settings = services_of(state).settings
    return {"refresh_url": settings.checkout.signature_refresh_url, "api_base": ""}


def checkout_router(frontend_dir: Path | None = None) -> Router:
    directory = frontend_dir or FRONTEND_DIR
    return Router(
        path="/",
        middleware=[page_headers_middleware(HOSTED_PAGE_CSP)],
        route_handlers=[
            checkout_qr,
            checkout_config,
            create_static_files_router(
                path="/checkout",
                directories=[directory],
                html_mode=True,
                name="checkout",
                include_in_schema=False,
            ),
        ],
    )
