"""Admin API (api.md §4) for the Ocrch dashboard, plus additive endpoints for operators."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, TypeVar

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from pydantic import BaseModel

from app.admin import service
from app.admin.schemas import (
    AdminActionOut,
    AdminDeposit,
    AdminOrder,
    AdminTransfer,
    AdminWallet,
    AttachRequest,
    CheckoutLink,
    MarkPaidRequest,
    Total,
)
from app.answers import Answer, Table
from app.chains import Blockchain, Coin
from app.errors import (
    AppError,
    BodyTooLarge,
    InvalidInput,
    InvalidOrderId,
    InvalidTransferId,
    OrderNotFound,
    SessionOrderNotFound,
    TransferNotFound,
)
from app.http import Config, Db, error_handler, json_parser, read_limited_body, services_of
from app.orders.models import OrderStatus
from app.security.admin_auth import admin_guard
from app.security.rate_limit import client_of
from app.transfers.models import TransferStatus
from app.webhooks import service as webhooks

M = TypeVar("M", bound=BaseModel)
ADMIN_BODY_BYTES = 64 * 1024
_MISSING = Answer(text="resource not found")
ANSWERS: Table = {
    OrderNotFound: _MISSING,
    TransferNotFound: _MISSING,
    SessionOrderNotFound: _MISSING,
    InvalidOrderId: Answer(text="invalid order id"),
    BodyTooLarge: Answer(text="the request body is larger than {limit} bytes"),
}
"""Where the Admin API (and `stablecheckout admin`) word an error unlike `app.answers`: Ocrch's
dashboard reads `resource not found` for anything missing."""


def actor(request: Request[Any, Any, Any]) -> str:
    """Who the audit trail names: the client address every limit keys on (trusted proxies)."""
    return f"api:{client_of(request.scope, services_of(request.app.state).settings)}"


def transfer_id_of(transfer_id: FromPath[str]) -> int:
    """The `{transfer_id}` of a path."""
    if not (transfer_id.isascii() and transfer_id.isdigit()) or len(transfer_id) > 18:
        raise InvalidTransferId  # and "¹".isdigit() is True
    return int(transfer_id)


def order_id_of(order_id: FromPath[str]) -> uuid.UUID:
    """The `{order_id}` of a path."""
    return service.parse_uuid(order_id)


async def read_body(request: Request[Any, Any, Any], model: type[M], *, optional: bool) -> M:
    """An admin body as `model`. Ocrch's admin POSTs carry none (`optional`); ours may carry a
    reason."""
    raw = await read_limited_body(request, ADMIN_BODY_BYTES)
    if raw is None:
        raise BodyTooLarge(ADMIN_BODY_BYTES)
    if optional and not raw.strip():
        return model()
    return json_parser(model)(raw.decode("utf-8", "replace"))


FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(9999, 12, 30)
"""`until` includes its whole day, so the last day leaves room for the day after it."""


def _day(value: str | None, default: dt.datetime) -> dt.datetime:
    if value is None:
        return default
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("dates are YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"dates are between {FIRST_DAY} and {LAST_DAY}")
    return dt.datetime.combine(day, dt.time(), dt.UTC)


Operator = NamedDependency[str]
"""Who the audit trail names (`actor`)."""
OrderId = NamedDependency[uuid.UUID]
"""The path's `{order_id}`, parsed (`invalid order id` otherwise)."""
TransferId = NamedDependency[int]
Limit = FromQuery[int | None]
Offset = FromQuery[int | None]
Chain = FromQuery[Blockchain | None]
Token = FromQuery[Coin | None]


def transfer_filters(
    limit: Limit = None,
    offset: Offset = None,
    status: FromQuery[TransferStatus | None] = None,
    blockchain: Chain = None,
    token: Token = None,
) -> dict[str, Any]:
    return {
        "limit": limit,
        "offset": offset,
        "status": status,
        "blockchain": blockchain,
        "token": token,
    }


TransferFilters = NamedDependency[dict[str, Any]]
"""The query parameters both transfer lists take (`transfer_filters`)."""


class AdminController(Controller):
    path = "/api/v1/admin"
    tags = ["Admin API"]
    guards = [admin_guard]
    dependencies = {
        "actor": Provide(actor, sync_to_thread=False),
        "oid": Provide(order_id_of, sync_to_thread=False),
        "tid": Provide(transfer_id_of, sync_to_thread=False),
        "filters": Provide(transfer_filters, sync_to_thread=False),
    }
    exception_handlers = {AppError: error_handler(ANSWERS)}
    request_max_body_size = None

    @get("/orders", summary="Orders, newest first")
    async def orders(
        self,
        db_session: Db,
        limit: Limit = None,
        offset: Offset = None,
        status: FromQuery[OrderStatus | None] = None,
        merchant_order_id: FromQuery[str | None] = None,
    ) -> list[AdminOrder]:
        return await service.list_orders(
            db_session,
            limit=limit,
            offset=offset,
            status=status,
            merchant_order_id=merchant_order_id,
        )

    @get("/orders/{order_id:str}", summary="One order")
    async def order(self, oid: OrderId, db_session: Db) -> AdminOrder:
        return await service.get_admin_order(db_session, oid)

    @get("/orders/{order_id:str}/webhooks", summary="Webhook events and every delivery attempt")
    async def order_webhooks(self, oid: OrderId, db_session: Db) -> list[dict[str, Any]]:
        await service.get_admin_order(db_session, oid)
        return await webhooks.delivery_log(db_session, oid)

    @post("/orders/{order_id:str}/mark-paid", status_code=200, summary="Mark an order paid")
    async def mark_paid(
        self, request: Request[Any, Any, Any], oid: OrderId, db_session: Db, actor: Operator
    ) -> AdminOrder:
        body = await read_body(request, MarkPaidRequest, optional=True)
        return await service.mark_paid(db_session, oid, actor=actor, reason=body.reason)

    @post(
        "/orders/{order_id:str}/resend-webhook",
        status_code=202,
        summary="Send the order's current status again",
    )
    async def resend_order(self, oid: OrderId, db_session: Db, actor: Operator) -> Response[bytes]:
        await service.resend_order_webhook(db_session, oid, actor=actor)
        return Response(b"", status_code=202)

    @post(
        "/orders/{order_id:str}/checkout-link",
        status_code=200,
        summary="A freshly signed checkout link (a new signature window)",
    )
    async def checkout_link(
        self,
        request: Request[Any, Any, Any],
        oid: OrderId,
        db_session: Db,
        settings: Config,
        actor: Operator,
    ) -> CheckoutLink:
        base = settings.server.public_url or str(request.base_url).rstrip("/")
        page = f"{base}/checkout/"
        return await service.checkout_link(db_session, settings, oid, page, actor=actor)

    @get("/deposits", summary="Deposits, newest first")
    async def deposits(
        self,
        db_session: Db,
        limit: Limit = None,
        offset: Offset = None,
        order_id: FromQuery[str | None] = None,
        blockchain: Chain = None,
        token: Token = None,
    ) -> list[AdminDeposit]:
        oid = service.parse_uuid(order_id) if order_id is not None else None
        return await service.list_deposits(
            db_session, limit=limit, offset=offset, order_id=oid, blockchain=blockchain, token=token
        )

    @get("/wallets", summary="Configured wallets")
    async def wallets(self, settings: Config) -> list[AdminWallet]:
        return service.list_wallets(settings)

    @get("/wallets/{address:str}/transfers", summary="Transfers to one wallet, newest first")
    async def wallet_transfers(
        self, address: FromPath[str], db_session: Db, settings: Config, filters: TransferFilters
    ) -> list[AdminTransfer]:
        return await service.list_transfers(db_session, settings, address=address, **filters)

    @get("/transfers", summary="All transfers, newest first (filter by status, tx hash, order)")
    async def transfers(
        self,
        db_session: Db,
        settings: Config,
        filters: TransferFilters,
        tx_hash: FromQuery[str | None] = None,
        order_id: FromQuery[str | None] = None,
    ) -> list[AdminTransfer]:
        oid = service.parse_uuid(order_id) if order_id is not None else None
        return await service.list_transfers(
            db_session, settings, tx_hash=tx_hash, order_id=oid, **filters
        )

    @post(
        "/transfers/{transfer_id:str}/resend-webhook",
        status_code=202,
        summary="Report an unmatched transfer again",
    )
    async def resend_transfer(
        self, tid: TransferId, db_session: Db, settings: Config, actor: Operator
    ) -> Response[bytes]:
        await service.resend_transfer_webhook(db_session, settings, tid, actor=actor)
        return Response(b"", status_code=202)

    @post(
        "/transfers/{transfer_id:str}/attach",
        status_code=200,
        summary="Credit an unmatched transfer to an order",
    )
    async def attach(
        self,
        request: Request[Any, Any, Any],
        tid: TransferId,
        db_session: Db,
        settings: Config,
        actor: Operator,
    ) -> AdminOrder:
        body = await read_body(request, AttachRequest, optional=False)
        return await service.attach_transfer(
            db_session, settings, tid, body.order_id, actor=actor, reason=body.reason
        )

    @get("/totals", summary="Received per day, chain and coin (for reconciliation)")
    async def totals(
        self,
        db_session: Db,
        settings: Config,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
    ) -> list[Total]:
        now = dt.datetime.now(dt.UTC)
        start = _day(since, now - dt.timedelta(days=30))
        end = _day(until, now) + (dt.timedelta(days=1) if until else dt.timedelta(0))
        return await service.totals(db_session, settings, start, end)

    @get("/actions", summary="The audit trail of admin actions")
    async def actions(
        self, db_session: Db, limit: Limit = None, offset: Offset = None
    ) -> list[AdminActionOut]:
        return await service.list_actions(db_session, limit=limit, offset=offset)
