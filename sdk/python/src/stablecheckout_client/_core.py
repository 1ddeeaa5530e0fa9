"""The sans-IO core: every call the clients make, written once as "build the request" and "read
the answer", with no network code. `client` adds two thin transports (httpx blocking and httpx
async); an `endpoint` method built here returns the parsed answer on a blocking client and an
awaitable of it on an async one, so the surface is not written twice. Bodies are serialized once
and signed as those exact bytes."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote

from stablecheckout_client import signing
from stablecheckout_client.errors import ApiError, InvalidResponseError
from stablecheckout_client.models import (
    ChainCoinPair,
    CheckoutSession,
    Order,
    PaymentDetail,
    SessionList,
    WebhookEvent,
)
from stablecheckout_client.verifier import WebhookVerifier
from stablecheckout_client.webhooks import OcrchWebhookFormat
from stablecheckout_client.webhooks_dialects import Seed002WebhookFormat

T = TypeVar("T")
P = ParamSpec("P")
USER_AGENT = "stablecheckout-client-python/0.1.0"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP request and how its answer is read."""

    method: str
    path: str
    parse: Callable[[Any], T]
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] | None = None
    json_errors: bool = False
    """Checkout Sessions answer errors as JSON; Ocrch routes as plain text."""

    def finish(self, status_code: int, text: str) -> T:
        """The parsed success body, or the server's refusal as `ApiError` (its exact text)."""
        if not 200 <= status_code < 300:
            if self.json_errors:
                try:
                    data = json.loads(text)
                except ValueError:
                    data = None
                raise ApiError.from_session_response(status_code, text, data)
            raise ApiError(status_code, text)
        try:
            data = json.loads(text)
        except ValueError:
            raise InvalidResponseError(
                f"{self.method} {self.path}: {status_code} with a body that is not JSON"
            ) from None
        return self.parse(data)

    def describe(self, exc: Exception) -> str:
        """What a `TransportError` says when the request got no answer."""
        return f"{self.method} {self.path}: {type(exc).__name__}: {exc}"


class Blocking:
    """A transport whose `_send` returns the answer (`client.SyncTransport`)."""

    def _send(self, call: Call[T]) -> T:
        raise NotImplementedError


class Awaiting:
    """A transport whose `_send` is awaited (`client.AsyncTransport`)."""

    async def _send(self, call: Call[T]) -> T:
        raise NotImplementedError


class endpoint(Generic[P, T]):
    """A client method written once: the decorated function builds the `Call`; on a `Blocking`
    client the method returns the parsed answer, on an `Awaiting` one an awaitable of it."""

    def __init__(self, build: Callable[Concatenate[Any, P], Call[T]]) -> None:
        self.build = build
        self.__doc__, self.__name__, self.__wrapped__ = build.__doc__, build.__name__, build
        unbound = inspect.signature(build).replace(return_annotation=inspect.Signature.empty)
        self.__signature__ = unbound
        self.bound_signature = unbound.replace(parameters=list(unbound.parameters.values())[1:])

    def __call__(self, client: Any, *args: P.args, **kwargs: P.kwargs) -> Any:
        """`Client.create_order(client, …)`, as an unbound method is called."""
        return client._send(self.build(client, *args, **kwargs))

    @overload
    def __get__(self, client: None, owner: type) -> endpoint[P, T]: ...
    @overload
    def __get__(self, client: Blocking, owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: Awaiting, owner: type) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, client: Any, owner: type) -> Any:
        if client is None:
            return self
        method = functools.partial(self, client)
        functools.update_wrapper(method, self.build)
        method.__signature__ = self.bound_signature  # type: ignore[attr-defined]
        return method


def compact(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def wire_amount(amount: str | Decimal | int) -> str:
    """Money on the wire is a decimal string; a float would lose cents, so it is refused."""
    if isinstance(amount, bool) or not isinstance(amount, str | Decimal | int):
        raise TypeError("amount must be a decimal string, a Decimal or an int, never a float")
    text = format(amount, "f") if isinstance(amount, Decimal) else str(amount)
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise ValueError(f"amount {text!r} is not a decimal number") from None
    if not value.is_finite() or "e" in text.lower():
        raise ValueError(f"amount {text!r} is not a plain decimal number")
    return text


def _pairs(data: Any) -> list[ChainCoinPair]:
    if not isinstance(data, list):
        raise InvalidResponseError("chains: expected a JSON array")
    return [ChainCoinPair.from_json(item) for item in data]


def service_call(secret: str, path: str, body: Mapping[str, Any], **headers: str) -> Call[Order]:
    """A Service API call: `Ocrch-Signature` over the exact body bytes."""
    raw = compact(body)
    signed = {
        "Content-Type": "application/json",
        "Ocrch-Signature": signing.sign_body(secret, raw),
        **headers,
    }
    return Call("POST", f"/api/v1/service{path}", Order.from_json, raw, signed)


class OrderApi:
    """The merchant backend's surface: signed Service API calls and checkout links.

    `secret` is `[merchant].secret`; it never leaves your backend.
    """

    base_url: str

    def __init__(self, base_url: str, secret: str, **options: Any) -> None:
        super().__init__(base_url, **options)  # type: ignore[call-arg]  # the transport's
        self.secret = secret

    @endpoint
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
    ) -> Call[Order]:
        """`POST /api/v1/service/orders`. `order_id` is your reference (`merchant_order_id`)."""
        body: dict[str, Any] = {
            "amount": wire_amount(amount),
            "expecting_wallet_address": expecting_wallet_address,
            "order_id": order_id,
            "blockchain": blockchain,
            "stablecoin": stablecoin,
            "webhook_url": webhook_url,
        }
        extra = {
            "expires_in": expires_in,
            "metadata": metadata,
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        body.update({k: v for k, v in extra.items() if v is not None})
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return service_call(self.secret, "/orders", body, **headers)

    @endpoint
    def get_order(self, order_id: str) -> Call[Order]:
        """`POST /api/v1/service/orders/status` for the server's order id (a UUID)."""
        return service_call(self.secret, "/orders/status", {"order_id": order_id})

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
        """Verify an order webhook signed with this client's secret over the raw body: Ocrch's
        `Ocrch-Signature`, or seed 002's `Authorization` when the server sends that format
        (`[webhooks].format = "seed002"`). Raises `WebhookVerificationError`. Session and
        dialect events have secrets of their own: see `WebhookVerifier.for_secrets`."""
        verifier = WebhookVerifier(
            OcrchWebhookFormat(self.secret), Seed002WebhookFormat(self.secret)
        )
        return verifier.verify(headers, body, now=now)


@dataclass(frozen=True, slots=True)
class UserAuth:
    """A signed page URL and either its signature (as a page has it) or the secret to re-sign
    each call (as a backend can, so it never expires)."""

    signed_url: str
    signature: str | None = None
    secret: str | None = None

    def __post_init__(self) -> None:
        if (self.signature is None) == (self.secret is None):
            raise ValueError("give exactly one of signature= or secret=")

    def headers(self) -> dict[str, str]:
        signature = self.signature or signing.sign_url(str(self.secret), self.signed_url)
        return {"Ocrch-Signed-Url": self.signed_url, "Ocrch-Signature": signature}


def _order_path(order_id: str, tail: str) -> str:
    return f"/api/v1/user/orders/{quote(order_id, safe='')}/{tail}"


class UserApi:
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
        super().__init__(base_url, **options)  # type: ignore[call-arg]  # the transport's
        self.auth = UserAuth(signed_url, signature, secret)

    @endpoint
    def chains(self) -> Call[list[ChainCoinPair]]:
        return Call("GET", "/api/v1/user/chains", _pairs, headers=self.auth.headers())

    @endpoint
    def create_payment(
        self, order_id: str, blockchain: str, stablecoin: str
    ) -> Call[PaymentDetail]:
        raw = compact({"blockchain": blockchain, "stablecoin": stablecoin})
        headers = {**self.auth.headers(), "Content-Type": "application/json"}
        path = _order_path(order_id, "payment")
        return Call("POST", path, PaymentDetail.from_json, raw, headers)

    @endpoint
    def cancel(self, order_id: str) -> Call[Order]:
        path = _order_path(order_id, "cancel")
        return Call("POST", path, Order.from_json, headers=self.auth.headers())

    @endpoint
    def status(self, order_id: str) -> Call[Order]:
        path = _order_path(order_id, "status")
        return Call("GET", path, Order.from_json, headers=self.auth.headers())


class SessionsApi:
    """Checkout Sessions with an API key (`sk_live_…` or `sk_test_…`)."""

    def __init__(self, base_url: str, api_key: str, **options: Any) -> None:
        super().__init__(base_url, **options)  # type: ignore[call-arg]  # the transport's
        self.api_key = api_key

    def _bearer(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", **extra}

    @endpoint
    def create(
        self,
        /,
        body: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Call[CheckoutSession]:
        """`POST /api/v1/checkout/sessions` with `body` (or keyword fields) as documented."""
        headers = self._bearer(**{"Content-Type": "application/json"})
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        raw = compact({**(body or {}), **fields})
        path = "/api/v1/checkout/sessions"
        return Call("POST", path, CheckoutSession.from_json, raw, headers, json_errors=True)

    def _one(self, session_id: str, tail: str = "") -> Call[CheckoutSession]:
        path = f"/api/v1/checkout/sessions/{quote(session_id, safe='')}{tail}"
        method = "POST" if tail else "GET"
        return Call(
            method, path, CheckoutSession.from_json, headers=self._bearer(), json_errors=True
        )

    @endpoint
    def retrieve(self, session_id: str) -> Call[CheckoutSession]:
        return self._one(session_id)

    @endpoint
    def list(self, *, limit: int = 10, starting_after: str | None = None) -> Call[SessionList]:
        params = {"limit": str(limit)}
        if starting_after:
            params["starting_after"] = starting_after
        return Call(
            "GET",
            "/api/v1/checkout/sessions",
            SessionList.from_json,
            headers=self._bearer(),
            params=params,
            json_errors=True,
        )

    @endpoint
    def expire(self, session_id: str) -> Call[CheckoutSession]:
        return self._one(session_id, "/expire")
