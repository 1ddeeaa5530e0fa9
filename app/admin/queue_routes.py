"""Admin API of the exceptions queue and refunds (additive; docs/admin.md, "Exceptions queue").

Lists answer JSON, or CSV with `?format=csv` (every row from `offset`, up to 10,000).
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import queue, queue_csv
from app.admin.queue_schemas import (
    AcceptPaidRequest,
    ClaimLinkOut,
    FlaggedPayment,
    MarkRefundedRequest,
    RefundItemOut,
    UnmatchedTransfer,
)
from app.admin.routes import ADMIN_BODY_BYTES, Limit, Offset, actor, transfer_id_of
from app.admin.schemas import AdminOrder
from app.admin.service import parse_uuid
from app.chains import Blockchain
from app.config import Settings
from app.errors import InvalidInput
from app.http import json_parser, read_limited_body, services_of
from app.orders.models import PaymentException
from app.refunds.models import RefundStatus
from app.security.admin_auth import admin_guard

Format = FromQuery[Literal["json", "csv"]]


def _csv(name: str, text: str) -> Response[str]:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


async def _body(request: Request[Any, Any, Any], model: type[Any]) -> Any:
    raw = await read_limited_body(request, ADMIN_BODY_BYTES)
    if raw is None:
        raise InvalidInput(f"the request body is larger than {ADMIN_BODY_BYTES} bytes")
    return json_parser(model)(raw.decode("utf-8", "replace") or "{}")


def item_id_of(value: str) -> int:
    return transfer_id_of(value)


class AdminQueueController(Controller):
    path = "/api/v1/admin"
    tags = ["Admin API: exceptions and refunds"]
    guards = [admin_guard]
    request_max_body_size = None

    @get("/exceptions/unmatched", summary="Unmatched transfers with their nearest candidates")
    async def unmatched(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        limit: Limit = None,
        offset: Offset = None,
        blockchain: FromQuery[Blockchain | None] = None,
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

        if format == "csv":
            rows = queue_csv.unmatched_rows(await queue_csv.collect(fetch, offset or 0))
            return _csv("unmatched", queue_csv.to_csv(rows, queue_csv.UNMATCHED_COLUMNS))
        return Response(await fetch(limit, offset))

    @get("/exceptions/flagged", summary="Payments flagged underpaid, overpaid, partial, …")
    async def flagged(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        limit: Limit = None,
        offset: Offset = None,
        exception: FromQuery[PaymentException | None] = None,
        blockchain: FromQuery[Blockchain | None] = None,
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

        if format == "csv":
            rows = queue_csv.flagged_rows(await queue_csv.collect(fetch, offset or 0))
            return _csv("flagged", queue_csv.to_csv(rows, queue_csv.FLAGGED_COLUMNS))
        return Response(await fetch(limit, offset))

    @get("/refunds", summary="Refund items, newest first (filter by status)")
    async def refunds(
        self,
        db_session: NamedDependency[AsyncSession],
        limit: Limit = None,
        offset: Offset = None,
        status: FromQuery[RefundStatus | None] = None,
        blockchain: FromQuery[Blockchain | None] = None,
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

        if format == "csv":
            rows = [r.model_dump(mode="json") for r in await queue_csv.collect(fetch, offset or 0)]
            return _csv("refunds", queue_csv.to_csv(rows, queue_csv.REFUND_COLUMNS))
        return Response(await fetch(limit, offset))

    @get("/refunds/{item_id:str}", summary="One refund item")
    async def refund(
        self, item_id: FromPath[str], db_session: NamedDependency[AsyncSession]
    ) -> RefundItemOut:
        return await queue.refund_item(db_session, item_id_of(item_id))

    @post(
        "/refunds/{item_id:str}/claim-link",
        status_code=200,
        summary="A signed refund claim link for the shopper",
    )
    async def claim_link(
        self,
        request: Request[Any, Any, Any],
        item_id: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> ClaimLinkOut:
        base = settings.server.public_url or str(request.base_url).rstrip("/")
        return await queue.claim_link(
            db_session, settings, item_id_of(item_id), base, actor=actor(request)
        )

    @post(
        "/refunds/{item_id:str}/mark-refunded",
        status_code=200,
        summary="Record a refund paid by hand (checked on chain where the node can tell)",
    )
    async def mark_refunded(
        self, request: Request[Any, Any, Any], item_id: FromPath[str]
    ) -> RefundItemOut:
        body: MarkRefundedRequest = await _body(request, MarkRefundedRequest)
        return await queue.mark_refunded(
            services_of(request.app.state),
            item_id_of(item_id),
            body.tx_hash,
            actor=actor(request),
            reason=body.reason,
        )

    @post(
        "/orders/{order_id:str}/accept-as-paid",
        status_code=200,
        summary="Accept an underpaid, partly paid or late order as paid (reason required)",
    )
    async def accept_as_paid(
        self,
        request: Request[Any, Any, Any],
        order_id: FromPath[str],
        db_session: NamedDependency[AsyncSession],
    ) -> AdminOrder:
        body: AcceptPaidRequest = await _body(request, AcceptPaidRequest)
        return await queue.accept_as_paid(
            db_session, parse_uuid(order_id), actor=actor(request), reason=body.reason
        )
