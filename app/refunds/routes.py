"""HTTP of the refund claim link (`/refunds/claim/{id}`): the signed link is the credential, the
pages carry the hosted pages' security headers and are never cached."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.router import Router
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.refunds import pages, shopper
from app.security.headers import inline_style_csp, page_headers_middleware

Exp = Annotated[str, QueryParameter(max_length=16)]
Sig = Annotated[str, QueryParameter(max_length=128)]
FORM_BYTES = 4096


def _html(page: shopper.Page) -> Response[str]:
    return Response(
        page.html,
        status_code=page.status,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store"},
    )


@get("/refunds/claim/{item_id:str}", include_in_schema=False)
async def claim_page(
    item_id: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    exp: Exp = "",
    sig: Sig = "",
) -> Response[str]:
    return _html(await shopper.show(db_session, settings, item_id, exp, sig))


@post("/refunds/claim/{item_id:str}", include_in_schema=False, request_max_body_size=FORM_BYTES)
async def claim_submit(
    request: Request[Any, Any, Any],
    item_id: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    exp: Exp = "",
    sig: Sig = "",
) -> Response[str]:
    form = await request.form()
    return _html(
        await shopper.submit(
            db_session,
            settings,
            item_id,
            exp,
            sig,
            address=str(form.get("address", "")),
            confirmed=form.get("confirm") == "yes",
            edit=form.get("edit") == "yes",
        )
    )


def refund_claim_router() -> Router:
    return Router(
        path="/",
        middleware=[page_headers_middleware(inline_style_csp(pages.STYLE))],
        route_handlers=[claim_page, claim_submit],
    )
