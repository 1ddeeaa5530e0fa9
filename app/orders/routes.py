"""Service API routes (api.md §2): a merchant backend creates orders and reads their status."""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, Response, post
from litestar.openapi.datastructures import ResponseSpec

from app.http import Config, Db
from app.orders import service
from app.orders.fast_create import order_creator
from app.orders.fast_lane import OUTCOME, Outcome
from app.orders.schemas import OrderResponse, OrderStatusRequest
from app.security.service_auth import signed_request

_SIGNED = "Signed with `Ocrch-Signature: {ts}.{base64 HMAC-SHA256(secret, ts + '.' + body)}`."


class ServiceOrdersController(Controller):
    path = "/api/v1/service"
    tags = ["Service API"]
    request_max_body_size = None  # the signature check reads and bounds the body itself

    @post(
        "/orders",
        status_code=201,
        summary="Create an order",
        description=_SIGNED + " An `Idempotency-Key` header makes retries safe.",
        responses={201: ResponseSpec(OrderResponse, description="The new order")},
    )
    async def create_order(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        # No injected dependencies: the creator is resolved once per app (app.orders.fast_create).
        # A request the fast lane already ran arrives with its outcome, to be rendered here.
        outcome: Outcome | None = request.scope.get(OUTCOME)  # type: ignore[assignment]
        if outcome is not None:
            result = outcome.unwrap()
        else:
            result = await order_creator(request.app.state).create(request)
        headers = {"Idempotent-Replayed": "true"} if result.replayed else None
        return Response(
            result.body, status_code=result.status_code, media_type=MediaType.JSON, headers=headers
        )

    @post(
        "/orders/status",
        status_code=200,
        summary="Get an order",
        description=_SIGNED,
        responses={200: ResponseSpec(OrderResponse, description="The order")},
    )
    async def order_status(
        self, request: Request[Any, Any, Any], db_session: Db, settings: Config
    ) -> OrderResponse:
        body, _ = await signed_request(request, settings, OrderStatusRequest)
        order = await service.get_order(db_session, body.order_id)
        return service.order_response(order)
