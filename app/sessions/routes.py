"""HTTP of the hosted front door: the Checkout Sessions API (API key) and the session link (the
session id is the shopper's credential). Handlers parse, authenticate and call one service."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect
from litestar.router import Router
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.errors import AppError, BadRequest
from app.http import error_response, read_limited_body
from app.jsonbody import JsonBodyError, decode_json
from app.orders.models import Order
from app.security.headers import inline_style_csp, page_headers_middleware
from app.sessions import keys, pages, service, shopper, testmode
from app.sessions.models import ApiKey
from app.sessions.schemas import CreateSessionRequest, SessionList, SessionOut, session_out

_UNION_TAGS = {"str", "int", "bool", "float"}
"""Pydantic names the member of a union it tried (`metadata.a.str`): not part of the parameter."""
_AUTH = "Authenticated with `Authorization: Bearer sk_live_…` (or `sk_test_…`)."


async def provide_api_key(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> ApiKey:
    return await keys.authenticate(db_session, request.headers.get("authorization"))


def _param(loc: tuple[int | str, ...]) -> str:
    """Pydantic's location as Stripe writes a parameter: `line_items[0][price_data][currency]`."""
    parts = [str(part) for part in loc if str(part) not in _UNION_TAGS] or ["body"]
    head, *rest = parts
    return head + "".join(f"[{part}]" for part in rest)


def parse_create(request: Request[Any, Any, Any], raw: bytes | None) -> CreateSessionRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest("send the body as JSON with Content-Type: application/json")
    if raw is None:
        raise BadRequest("the request body is too large")
    try:
        data = decode_json(raw)
    except JsonBodyError as exc:
        if not exc.where:
            raise BadRequest(f"the request body is not valid JSON: {exc.message}") from None
        param = _param(exc.where)
        raise BadRequest(f"invalid {param}: {exc.message}", param=param) from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return CreateSessionRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = _param(first["loc"])
        if first["type"] == "extra_forbidden":
            raise BadRequest(f"unknown parameter: {param}", param=param) from None
        if first["type"] == "missing":
            raise BadRequest(f"missing required parameter: {param}", param=param) from None
        raise BadRequest(f"invalid {param}: {first['msg']}", param=param) from None


def _json(body: bytes, status: int, replayed: bool = False) -> Response[bytes]:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


class CheckoutSessionsController(Controller):
    path = "/api/v1/checkout/sessions"
    tags = ["Checkout Sessions"]
    dependencies = {"api_key": Provide(provide_api_key)}
    request_max_body_size = None  # read and bounded by the handler

    @post(
        "/",
        status_code=201,
        summary="Create a checkout session",
        description=_AUTH + " An `Idempotency-Key` header makes retries safe.",
        responses={201: ResponseSpec(SessionOut, description="The new session")},
    )
    async def create_session(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        api_key: NamedDependency[ApiKey],
    ) -> Response[Any]:
        raw = await read_limited_body(request, settings.security.max_body_bytes)
        body = parse_create(request, raw)
        assert raw is not None
        refusal = await testmode.check_key_limits(db_session, settings, api_key)
        if refusal is not None:
            retry = {"Retry-After": str(refusal.retry_after)}
            return error_response(request, 429, refusal.message, headers=retry)
        result = await service.create_session_response(
            db_session,
            settings,
            api_key,
            body,
            base_url=service.public_base(settings, for_new_session=True),
            raw_body=raw,
            idempotency_key=request.headers.get("idempotency-key"),
        )
        return _json(result.body, result.status_code, result.replayed)

    @get("/", summary="List checkout sessions, newest first", description=_AUTH)
    async def list_sessions(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        api_key: NamedDependency[ApiKey],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
        starting_after: Annotated[str | None, QueryParameter(max_length=64)] = None,
    ) -> SessionList:
        return await service.list_sessions(
            db_session,
            api_key,
            service.public_base(settings),
            limit=limit,
            starting_after=starting_after,
        )

    @get("/{session_id:str}", summary="Retrieve a checkout session", description=_AUTH)
    async def get_session(
        self,
        session_id: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        api_key: NamedDependency[ApiKey],
    ) -> SessionOut:
        checkout = await service.get_session(db_session, api_key, session_id)
        base = service.public_base(settings)
        order = await db_session.get(Order, checkout.order_id) if checkout.order_id else None
        return session_out(checkout, service.session_link(base, checkout.id), order)

    @post(
        "/{session_id:str}/expire",
        status_code=200,
        summary="Expire an open checkout session",
        description=_AUTH + " Its order stops accepting payment.",
    )
    async def expire_session(
        self,
        session_id: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        api_key: NamedDependency[ApiKey],
    ) -> SessionOut:
        checkout = await service.expire_session(db_session, api_key, session_id)
        return session_out(checkout, None)


# ---------------------------------------------------------------------------------------------
# The session link: /checkout/s/{id}


def _html(body: str, status: int = 200) -> Response[str]:
    return Response(
        body, status_code=status, media_type=MediaType.HTML, headers={"Cache-Control": "no-store"}
    )


def _landing(landing: shopper.Landing, settings: Settings) -> Response[Any]:
    if landing.page is not None:
        return Redirect(landing.page.url, status_code=303, headers={"Cache-Control": "no-store"})
    if landing.checkout is None:
        return _html(pages.not_found(), 404)
    if landing.wants_amount:
        return _html(pages.donation_form(landing.checkout, settings.merchant.name))
    return _html(pages.ended(landing.checkout), 410)


@get("/checkout/s/{session_id:str}", include_in_schema=False)
async def follow_session(
    session_id: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Response[Any]:
    """A session's `url`: a freshly signed hosted-page link (303), or a donation's amount form."""
    base = service.public_base(settings)
    return _landing(await shopper.open_session(db_session, settings, base, session_id), settings)


@post("/checkout/s/{session_id:str}", include_in_schema=False)
async def choose_amount(
    request: Request[Any, Any, Any],
    session_id: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Response[Any]:
    form = await request.form()
    amount = str(form.get("amount", ""))[:32]
    try:
        await shopper.choose_donation_amount(db_session, session_id, amount)
    except AppError as exc:
        checkout = await shopper.find_session(db_session, session_id)
        if checkout is None or not checkout.is_open or exc.param != "amount":
            return _landing(shopper.Landing(checkout), settings)
        page = pages.donation_form(checkout, settings.merchant.name, exc.message, amount)
        return _html(page, 400)
    base = service.public_base(settings)
    return _landing(await shopper.open_session(db_session, settings, base, session_id), settings)


@get("/checkout/s/{session_id:str}/signature", include_in_schema=False)
async def refresh_signature(
    session_id: FromPath[str],
    order_id: Annotated[str, QueryParameter(max_length=64)],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Response[dict[str, str]]:
    """The hosted page's signature refresh for a session order (`refresh_url` of the page)."""
    base = service.public_base(settings)
    page = await shopper.page_signature(db_session, settings, base, session_id, order_id)
    return Response(
        {"signed_url": page.signed_url, "signature": page.signature},
        headers={"Cache-Control": "no-store"},
    )


def session_link_router() -> Router:
    return Router(
        path="/",
        middleware=[page_headers_middleware(inline_style_csp(pages.STYLE))],
        route_handlers=[follow_session, choose_amount, refresh_signature],
    )
