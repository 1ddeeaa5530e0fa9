"""What a call sends and how its answer is read, shared by the sync and async clients so the two
differ only in how bytes travel. Bodies are serialized once and signed as those exact bytes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from stablecheckout_client import signing
from stablecheckout_client.errors import ApiError, InvalidResponseError, TransportError
from stablecheckout_client.models import (
    ChainCoinPair,
    CheckoutSession,
    Order,
    PaymentDetail,
    SessionList,
)

T = TypeVar("T")
USER_AGENT = "stablecheckout-client-python/0.1.0"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP request and the parser of its success body."""

    method: str
    path: str
    parse: Callable[[Any], T]
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] | None = None
    json_errors: bool = False
    """Checkout Sessions answer errors as JSON; Ocrch routes as plain text."""


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


def finish(call: Call[T], response: httpx.Response) -> T:
    if not response.is_success:
        text = response.text
        if call.json_errors:
            try:
                data = response.json()
            except ValueError:
                data = None
            raise ApiError.from_session_response(response.status_code, text, data)
        raise ApiError(response.status_code, text)
    try:
        data = response.json()
    except ValueError:
        raise InvalidResponseError(
            f"{call.method} {call.path}: {response.status_code} with a body that is not JSON"
        ) from None
    return call.parse(data)


def transport_error(exc: httpx.HTTPError, call: Call[Any]) -> TransportError:
    return TransportError(f"{call.method} {call.path}: {type(exc).__name__}: {exc}")


def _pairs(data: Any) -> list[ChainCoinPair]:
    if not isinstance(data, list):
        raise InvalidResponseError("chains: expected a JSON array")
    return [ChainCoinPair.from_json(item) for item in data]


# ---------------------------------------------------------------------------------------------
# Service API (Ocrch-Signature over the body)


def service_call(secret: str, path: str, body: Mapping[str, Any], **headers: str) -> Call[Order]:
    raw = compact(body)
    signed = {
        "Content-Type": "application/json",
        "Ocrch-Signature": signing.sign_body(secret, raw),
        **headers,
    }
    return Call("POST", f"/api/v1/service{path}", Order.from_json, raw, signed)


def create_order_call(
    secret: str,
    *,
    order_id: str,
    amount: str | Decimal | int,
    webhook_url: str,
    blockchain: str | None,
    stablecoin: str | None,
    expecting_wallet_address: str | None,
    extra: Mapping[str, Any],
    idempotency_key: str | None,
) -> Call[Order]:
    body: dict[str, Any] = {
        "amount": wire_amount(amount),
        "expecting_wallet_address": expecting_wallet_address,
        "order_id": order_id,
        "blockchain": blockchain,
        "stablecoin": stablecoin,
        "webhook_url": webhook_url,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return service_call(secret, "/orders", body, **headers)


def order_status_call(secret: str, order_id: str) -> Call[Order]:
    return service_call(secret, "/orders/status", {"order_id": order_id})


# ---------------------------------------------------------------------------------------------
# User API (a signed checkout URL)


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


def chains_call(auth: UserAuth) -> Call[list[ChainCoinPair]]:
    return Call("GET", "/api/v1/user/chains", _pairs, headers=auth.headers())


def payment_call(
    auth: UserAuth, order_id: str, blockchain: str, stablecoin: str
) -> Call[PaymentDetail]:
    raw = compact({"blockchain": blockchain, "stablecoin": stablecoin})
    headers = {**auth.headers(), "Content-Type": "application/json"}
    return Call("POST", _order_path(order_id, "payment"), PaymentDetail.from_json, raw, headers)


def cancel_call(auth: UserAuth, order_id: str) -> Call[Order]:
    return Call("POST", _order_path(order_id, "cancel"), Order.from_json, headers=auth.headers())


def user_status_call(auth: UserAuth, order_id: str) -> Call[Order]:
    return Call("GET", _order_path(order_id, "status"), Order.from_json, headers=auth.headers())


# ---------------------------------------------------------------------------------------------
# Checkout Sessions (API key)


def _bearer(api_key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", **extra}


def create_session_call(
    api_key: str, body: Mapping[str, Any], idempotency_key: str | None
) -> Call[CheckoutSession]:
    headers = _bearer(api_key, **{"Content-Type": "application/json"})
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return Call(
        "POST",
        "/api/v1/checkout/sessions",
        CheckoutSession.from_json,
        compact(body),
        headers,
        json_errors=True,
    )


def session_call(api_key: str, session_id: str, expire: bool = False) -> Call[CheckoutSession]:
    path = f"/api/v1/checkout/sessions/{quote(session_id, safe='')}"
    method, path = ("POST", f"{path}/expire") if expire else ("GET", path)
    return Call(method, path, CheckoutSession.from_json, headers=_bearer(api_key), json_errors=True)


def list_sessions_call(api_key: str, limit: int, starting_after: str | None) -> Call[SessionList]:
    params = {"limit": str(limit)}
    if starting_after:
        params["starting_after"] = starting_after
    return Call(
        "GET",
        "/api/v1/checkout/sessions",
        SessionList.from_json,
        headers=_bearer(api_key),
        params=params,
        json_errors=True,
    )
