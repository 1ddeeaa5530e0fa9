"""Synchronous clients (httpx.Client). The async twins in `aio` have the same methods."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

import httpx

from stablecheckout_client import _core, signing
from stablecheckout_client.models import (
    ChainCoinPair,
    CheckoutSession,
    Order,
    PaymentDetail,
    SessionList,
    WebhookEvent,
)
from stablecheckout_client.webhooks import OcrchWebhookFormat

T = TypeVar("T")
Self = TypeVar("Self", bound="_SyncBase")


class _SyncBase:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = _core.DEFAULT_TIMEOUT,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._own = http is None
        self._http = http or httpx.Client(timeout=timeout)

    def _send(self, call: _core.Call[T]) -> T:
        try:
            response = self._http.request(
                call.method,
                self.base_url + call.path,
                content=call.content,
                headers={"User-Agent": _core.USER_AGENT, **call.headers},
                params=call.params,
            )
        except httpx.HTTPError as exc:
            raise _core.transport_error(exc, call) from exc
        return _core.finish(call, response)

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self: Self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Client(_SyncBase):
    """The merchant backend's client: signed Service API calls and checkout links.

    `secret` is `[merchant].secret`; it never leaves your backend.
    """

    def __init__(self, base_url: str, secret: str, **options: Any) -> None:
        super().__init__(base_url, **options)
        self.secret = secret

    def create_order(
        self,
        order_id: str,
        amount: str | Decimal | int,
        webhook_url: str,
        *,
        blockchain: str | None = None,
        stablecoin: str | None = None,
        expecting_wallet_address: str | None = None,
        expires_in: int | None = None,
        metadata: dict[str, Any] | None = None,
        success_url: str | None = None,
        cancel_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        """`POST /api/v1/service/orders`. `order_id` is your reference (`merchant_order_id`)."""
        return self._send(
            _core.create_order_call(
                self.secret,
                order_id=order_id,
                amount=amount,
                webhook_url=webhook_url,
                blockchain=blockchain,
                stablecoin=stablecoin,
                expecting_wallet_address=expecting_wallet_address,
                extra={
                    "expires_in": expires_in,
                    "metadata": metadata,
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                },
                idempotency_key=idempotency_key,
            )
        )

    def get_order(self, order_id: str) -> Order:
        """`POST /api/v1/service/orders/status` for the server's order id (a UUID)."""
        return self._send(_core.order_status_call(self.secret, order_id))

    def checkout_link(
        self, order_id: str, *, page: str | None = None, lang: str | None = None
    ) -> str:
        """Where to send the shopper: the hosted page `<server>/checkout/` unless `page` is given
        (your own page, whose origin must be in `[merchant].allowed_origins`)."""
        return signing.checkout_link(
            self.secret, order_id, page=page or f"{self.base_url}/checkout/", lang=lang
        )

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: int | None = None
    ) -> WebhookEvent:
        """Verify an order webhook (`Ocrch-Signature`, this client's secret) over the raw body;
        raises `WebhookVerificationError`. Session events have their own secret: see `webhooks`."""
        return OcrchWebhookFormat(self.secret).verify(headers, body, now=now)

    def user(self, signed_url: str) -> UserClient:
        """A User API client for `signed_url` that re-signs every call with the secret."""
        return UserClient(self.base_url, signed_url, secret=self.secret, http=self._http)


class UserClient(_SyncBase):
    """The User API, as a checkout page calls it, for one signed page URL."""

    def __init__(
        self,
        base_url: str,
        signed_url: str,
        *,
        signature: str | None = None,
        secret: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(base_url, **options)
        self.auth = _core.UserAuth(signed_url, signature, secret)

    def chains(self) -> list[ChainCoinPair]:
        return self._send(_core.chains_call(self.auth))

    def create_payment(self, order_id: str, blockchain: str, stablecoin: str) -> PaymentDetail:
        return self._send(_core.payment_call(self.auth, order_id, blockchain, stablecoin))

    def cancel(self, order_id: str) -> Order:
        return self._send(_core.cancel_call(self.auth, order_id))

    def status(self, order_id: str) -> Order:
        return self._send(_core.user_status_call(self.auth, order_id))


class SessionsClient(_SyncBase):
    """Checkout Sessions with an API key (`sk_live_…` or `sk_test_…`)."""

    def __init__(self, base_url: str, api_key: str, **options: Any) -> None:
        super().__init__(base_url, **options)
        self.api_key = api_key

    def create(
        self,
        body: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> CheckoutSession:
        """`POST /api/v1/checkout/sessions` with `body` (or keyword fields) as documented."""
        payload = {**(body or {}), **fields}
        return self._send(_core.create_session_call(self.api_key, payload, idempotency_key))

    def retrieve(self, session_id: str) -> CheckoutSession:
        return self._send(_core.session_call(self.api_key, session_id))

    def list(self, *, limit: int = 10, starting_after: str | None = None) -> SessionList:
        return self._send(_core.list_sessions_call(self.api_key, limit, starting_after))

    def expire(self, session_id: str) -> CheckoutSession:
        return self._send(_core.session_call(self.api_key, session_id, expire=True))
