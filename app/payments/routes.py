"""User API routes (api.md §3): what the checkout page calls, authenticated by a signed URL."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath

from app.http import Config, Db, read_json_body, services_of
from app.orders import service as orders
from app.orders.schemas import OrderResponse
from app.payments import service as payments
from app.payments.schemas import ChainCoinPair, PaymentDetail, PaymentRequest
from app.security.user_auth import parse_order_id, user_signature_guard
from app.sessions import testmode

_SIGNED = (
    "Authenticated by `Ocrch-Signed-Url` (the merchant-signed checkout URL) and "
    "`Ocrch-Signature: {ts}.{base64 HMAC-SHA256(secret, url + '.' + ts)}`."
)


class UserApiController(Controller):
    path = "/api/v1/user"
    tags = ["User API"]
    guards = [user_signature_guard]
    request_max_body_size = None

    @get("/chains", summary="Payment options", description=_SIGNED)
    async def chains(
        self, request: Request[Any, Any, Any], db_session: Db, settings: Config
    ) -> list[ChainCoinPair]:
        signed_url = request.headers.get("ocrch-signed-url")
        test = await testmode.signed_url_is_test(db_session, signed_url)
        return payments.list_pairs(settings, test=test)

    @post(
        "/orders/{order_id:str}/payment",
        status_code=201,
        summary="Get a payment address and exact amount",
        description=_SIGNED,
    )
    async def payment(
        self,
        request: Request[Any, Any, Any],
        order_id: FromPath[str],
        db_session: Db,
        settings: Config,
    ) -> PaymentDetail:
        oid = parse_order_id(order_id)
        body = await read_json_body(request, PaymentRequest, settings.security.max_body_bytes)
        return await payments.create_payment(
            db_session,
            settings,
            oid,
            body.blockchain,
            body.stablecoin,
            services_of(request.app.state).rates,
        )

    @post(
        "/orders/{order_id:str}/cancel",
        status_code=200,
        summary="Cancel a pending order",
        description=_SIGNED,
    )
    async def cancel(self, order_id: FromPath[str], db_session: Db) -> OrderResponse:
        order = await orders.cancel_order(db_session, parse_order_id(order_id))
        return orders.order_response(order)

    @get("/orders/{order_id:str}/status", summary="Order status (polling)", description=_SIGNED)
    async def status(
        self, order_id: FromPath[str], db_session: Db, settings: Config
    ) -> OrderResponse:
        order = await orders.get_order(db_session, parse_order_id(order_id))
        return OrderResponse.model_validate(await orders.order_view(db_session, settings, order))
