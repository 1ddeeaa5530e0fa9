"""HTTP of the hosted front door: the Checkout Sessions API (API key) and the session link (the
session id is the shopper's credential). Handlers parse, authenticate and call one service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect
from litestar.router import Router
from pydantic import BaseModel, ValidationError

from app.answers import Answer, Table
from app.config import Settings
from app.errors import (
    AppError,
    BodyTooLarge,
    InvalidParameter,
    MalformedJson,
    MissingParameter,
    UnknownParameter,
    WrongContentType,
)
from app.http import Config, Db, error_handler, read_json_object, require_json
from app.orders.models import Order
from app.security.headers import inline_style_csp, page_headers_middleware
from app.sessions import keys, pages, service, shopper, testmode
from app.sessions.models import ApiKey, CheckoutSession
from app.sessions.schemas import CreateSessionRequest, SessionList, SessionOut, session_out

_UNION_TAGS = {"str", "int", "bool", "float"}
"""Pydantic names the member of a union it tried (`metadata.a.str`): not part of the parameter."""
M = TypeVar("M", bound=BaseModel)
Key = NamedDependency[ApiKey]
"""The request's API key (`Authorization: Bearer sk_…`, `provide_api_key`)."""
PageSize = Annotated[int, QueryParameter(ge=1, le=100)]
Cursor = Annotated[str | None, QueryParameter(max_length=64)]
"""`starting_after`: the last id of the previous page."""
_AUTH = "Authenticated with `Authorization: Bearer sk_live_…` (or `sk_test_…`)."


ANSWERS: Table = {
    WrongContentType: Answer(400, "send the body as JSON with Content-Type: application/json"),
    BodyTooLarge: Answer(text="the request body is too large"),
    MalformedJson: Answer(text="the request body is not valid JSON: {detail}"),
}
"""Where Checkout Sessions (and the dialects built on it) word an error unlike `app.answers`."""


async def provide_api_key(request: Request[Any, Any, Any], db_session: Db) -> ApiKey:
    return await keys.authenticate(db_session, request.headers.get("authorization"))


def stripe_param(loc: tuple[int | str, ...]) -> str:
    """Pydantic's location as Stripe writes a parameter: `line_items[0][price_data][currency]`."""
    parts = [str(part) for part in loc if str(part) not in _UNION_TAGS] or ["body"]
    head, *rest = parts
    return head + "".join(f"[{part}]" for part in rest)


async def read_body(
    request: Request[Any, Any, Any], settings: Settings
) -> tuple[bytes, dict[str, Any]]:
    """The raw body (what an `Idempotency-Key` remembers) and its JSON object; shared by the
    Checkout Sessions API and the dialects built on it."""
    require_json(request)
    return await read_json_object(request, settings.security.max_body_bytes, stripe_param)


def validated(
    model: type[M],
    data: dict[str, Any],
    name: Callable[[tuple[int | str, ...]], str] = stripe_param,
) -> M:
    """`data` as `model`, or the first problem named as the API names its parameters."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = name(first["loc"])
        if first["type"] == "extra_forbidden":
            raise UnknownParameter(param) from None
        if first["type"] == "missing":
            raise MissingParameter(param) from None
        raise InvalidParameter(param, first["msg"]) from None


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    starting_after: str | None


def provide_page(limit: PageSize = 10, starting_after: Cursor = None) -> Page:
    return Page(limit, starting_after)


Paging = NamedDependency[Page]
"""A list's `limit` (1 to 100) and `starting_after` query parameters."""


class SessionApi(Controller):
    """What every checkout-session API (ours, OpenCheckout's, OVGC's) shares: the API key, a
    list's page, and bodies read and bounded by the handler."""

    dependencies = {
        "api_key": Provide(provide_api_key),
        "page": Provide(provide_page, sync_to_thread=False),
    }
    request_max_body_size = None


def _json(body: bytes, status: int, replayed: bool = False) -> Response[bytes]:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


class CheckoutSessionsController(SessionApi):
    path = "/api/v1/checkout/sessions"
    tags = ["Checkout Sessions"]
    exception_handlers = {AppError: error_handler(ANSWERS)}

    @post(
        "/",
        status_code=201,
        summary="Create a checkout session",
        description=_AUTH + " An `Idempotency-Key` header makes retries safe.",
        responses={201: ResponseSpec(SessionOut, description="The new session")},
    )
    async def create_session(
        self, request: Request[Any, Any, Any], db_session: Db, settings: Config, api_key: Key
    ) -> Response[Any]:
        raw, data = await read_body(request, settings)
        body = validated(CreateSessionRequest, data)
        await testmode.check_key_limits(db_session, settings, api_key)
        base = service.public_base(settings, for_new_session=True)

        def render(checkout: CheckoutSession, order: Order | None) -> str:
            link = service.session_link(base, checkout.id)
            return session_out(checkout, link, order).model_dump_json()

        result = await service.create_session_once(
            db_session,
            settings,
            api_key,
            body,
            render,
            raw_body=raw,
            idempotency_key=request.headers.get("idempotency-key"),
        )
        return _json(result.body, result.status_code, result.replayed)

    @get("/", summary="List checkout sessions, newest first", description=_AUTH)
    async def list_sessions(
        self, db_session: Db, settings: Config, api_key: Key, page: Paging
    ) -> SessionList:
        rows, more = await service.list_sessions(
            db_session, api_key, limit=page.limit, starting_after=page.starting_after
        )
        base = service.public_base(settings)
        orders = await service.orders_of(db_session, rows)
        data = [
            session_out(
                cs,
                service.session_link(base, cs.id),
                orders.get(cs.order_id) if cs.order_id else None,
            )
            for cs in rows
        ]
        return SessionList(has_more=more, data=data)

    @get("/{session_id:str}", summary="Retrieve a checkout session", description=_AUTH)
    async def get_session(
        self, session_id: FromPath[str], db_session: Db, settings: Config, api_key: Key
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
        self, session_id: FromPath[str], db_session: Db, api_key: Key
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
    session_id: FromPath[str], db_session: Db, settings: Config
) -> Response[Any]:
    """A session's `url`: a freshly signed hosted-page link (303), or a donation's amount form."""
    base = service.public_base(settings)
    return _landing(await shopper.open_session(db_session, settings, base, session_id), settings)


@post("/checkout/s/{session_id:str}", include_in_schema=False)
async def choose_amount(
    request: Request[Any, Any, Any], session_id: FromPath[str], db_session: Db, settings: Config
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
    db_session: Db,
    settings: Config,
) -> Response[dict[str, str]]:
    """The hosted page's signature refresh for a session order (`refresh_url` of the page)."""
    base = service.public_base(settings)
    page = await shopper.page_signature(db_session, settings, base, session_id, order_id)
    return Response(
        {"signed_url": page.signed_url, "signature": page.signature},
        headers={"Cache-Control": "no-store"},
    )


@get("/checkout/s/{session_id:str}/summary", include_in_schema=False)
async def page_summary(
    session_id: FromPath[str],
    order_id: Annotated[str, QueryParameter(max_length=64)],
    db_session: Db,
) -> Response[dict[str, str]]:
    """The hosted page's line about the session: the product and the receipt email."""
    summary = await shopper.page_summary(db_session, session_id, order_id)
    return Response(summary, headers={"Cache-Control": "no-store"})


def session_link_router() -> Router:
    return Router(
        path="/",
        middleware=[page_headers_middleware(inline_style_csp(pages.STYLE))],
        route_handlers=[follow_session, choose_amount, refresh_signature, page_summary],
    )
