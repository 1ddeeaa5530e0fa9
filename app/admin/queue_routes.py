"""Admin API of the exceptions queue and refunds (additive; docs/admin.md, "Exceptions queue").

Lists answer JSON, or CSV with `?format=csv` (every row from `offset`, up to 10,000).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery

from app.admin import queue, queue_csv
from app.admin.queue_schemas import (
    AcceptPaidRequest,
    ClaimLinkOut,
    FlaggedPayment,
    MarkRefundedRequest,
    RefundItemOut,
    UnmatchedTransfer,
)
from app.admin.routes import (
    ANSWERS,
    Chain,
    Limit,
    Offset,
    Operator,
    OrderId,
    actor,
    order_id_of,
    read_body,
    transfer_id_of,
)
from app.admin.schemas import AdminOrder
from app.admin.service import parse_uuid
from app.errors import AppError, BodyTooLarge
from app.http import Config, Db, error_handler, services_of
from app.orders.models import PaymentException
from app.refunds.models import RefundStatus
from app.security.admin_auth import admin_guard


def item_id_of(item_id: FromPath[str]) -> int:
    """The `{item_id}` of a path (a number, as a transfer id)."""
    return transfer_id_of(item_id)


ItemId = NamedDependency[int]


Format = FromQuery[Literal["json", "csv"]]
T = TypeVar("T")


def _dumped(items: list[RefundItemOut]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in items]


CSV_EXPORTS: dict[str, tuple[Callable[[list[Any]], list[dict[str, Any]]], Sequence[str]]] = {
    "unmatched": (queue_csv.unmatched_rows, queue_csv.UNMATCHED_COLUMNS),
    "flagged": (queue_csv.flagged_rows, queue_csv.FLAGGED_COLUMNS),
    "refunds": (_dumped, queue_csv.REFUND_COLUMNS),
}
"""Each list's CSV: how its items become rows, and the columns."""


async def _listing(
    name: str,
    fetch: Callable[[int | None, int | None], Awaitable[list[T]]],
    limit: int | None,
    offset: int | None,
    format: str,
) -> Response[Any]:
    """One page of `fetch` as JSON, or with `format=csv` every row from `offset` as the
    attachment `name.csv` (`CSV_EXPORTS[name]`)."""
    if format != "csv":
        return Response(await fetch(limit, offset))
    rows, columns = CSV_EXPORTS[name]
    text = queue_csv.to_csv(rows(await queue_csv.collect(fetch, offset or 0)), columns)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


class AdminQueueController(Controller):
    path = "/api/v1/admin"
    tags = ["Admin API: exceptions and refunds"]
    guards = [admin_guard]
    dependencies = {
        "actor": Provide(actor, sync_to_thread=False),
        "oid": Provide(order_id_of, sync_to_thread=False),
        "iid": Provide(item_id_of, sync_to_thread=False),
    }
    exception_handlers = {AppError: error_handler({BodyTooLarge: ANSWERS[BodyTooLarge]})}
    """Only the body limit is worded as on the other admin routes; the rest as everywhere."""
    request_max_body_size = None

    @get("/exceptions/unmatched", summary="Unmatched transfers with their nearest candidates")
    async def unmatched(
        self,
        db_session: Db,
        settings: Config,
        limit: Limit = None,
        offset: Offset = None,
        blockchain: Chain = None,
        candidates: FromQuery[int] = 3,
        format: Format = "json",
    ) -> Response[Any]:
        async def fetch(size: int | None, start: int | None) -> list[UnmatchedTransfer]:
            return await queue.unmatched(
                db_session,
                settings,
                limit=size,
                offset=start,
                blockchain=blockchain,
                candidates=candidates,
            )

        return await _listing("unmatched", fetch, limit, offset, format)

    @get("/exceptions/flagged", summary="Payments flagged underpaid, overpaid, partial, …")
    async def flagged(
        self,
        db_session: Db,
        settings: Config,
        limit: Limit = None,
        offset: Offset = None,
        exception: FromQuery[PaymentException | None] = None,
        blockchain: Chain = None,
        format: Format = "json",
    ) -> Response[Any]:
        async def fetch(size: int | None, start: int | None) -> list[FlaggedPayment]:
            return await queue.flagged(
                db_session,
                settings,
                limit=size,
                offset=start,
                exception=exception,
                blockchain=blockchain,
            )

        return await _listing("flagged", fetch, limit, offset, format)

    @get("/refunds", summary="Refund items, newest first (filter by status)")
    async def refunds(
        self,
        db_session: Db,
        limit: Limit = None,
        offset: Offset = None,
        status: FromQuery[RefundStatus | None] = None,
        blockchain: Chain = None,
        order_id: FromQuery[str | None] = None,
        format: Format = "json",
    ) -> Response[Any]:
        oid = parse_uuid(order_id) if order_id is not None else None

        async def fetch(size: int | None, start: int | None) -> list[RefundItemOut]:
            return await queue.refund_items(
                db_session,
                limit=size,
                offset=start,
                status=status,
                blockchain=blockchain,
                order_id=oid,
            )

        return await _listing("refunds", fetch, limit, offset, format)

    @get("/refunds/{item_id:str}", summary="One refund item")
    async def refund(self, iid: ItemId, db_session: Db) -> RefundItemOut:
        return await queue.refund_item(db_session, iid)

    @post(
        "/refunds/{item_id:str}/claim-link",
        status_code=200,
        summary="A signed refund claim link for the shopper",
    )
    async def claim_link(
        self,
        request: Request[Any, Any, Any],
        iid: ItemId,
        db_session: Db,
        settings: Config,
        actor: Operator,
    ) -> ClaimLinkOut:
        base = settings.server.public_url or str(request.base_url).rstrip("/")
        return await queue.claim_link(db_session, settings, iid, base, actor=actor)

    @post(
        "/refunds/{item_id:str}/mark-refunded",
        status_code=200,
        summary="Record a refund paid by hand (checked on chain where the node can tell)",
    )
    async def mark_refunded(
        self, request: Request[Any, Any, Any], iid: ItemId, actor: Operator
    ) -> RefundItemOut:
        body = await read_body(request, MarkRefundedRequest, optional=False)
        return await queue.mark_refunded(
            services_of(request.app.state), iid, body.tx_hash, actor=actor, reason=body.reason
        )

    @post(
        "/orders/{order_id:str}/accept-as-paid",
        status_code=200,
        summary="Accept an underpaid, partly paid or late order as paid (reason required)",
    )
    async def accept_as_paid(
        self, request: Request[Any, Any, Any], oid: OrderId, db_session: Db, actor: Operator
    ) -> AdminOrder:
        body = await read_body(request, AcceptPaidRequest, optional=False)
        return await queue.accept_as_paid(db_session, oid, actor=actor, reason=body.reason)
