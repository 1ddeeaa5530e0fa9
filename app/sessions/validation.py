"""What a create request must satisfy, checked before anything is written: one currency (usd,
paid 1:1 in USD stablecoins, or a fiat currency configured in `[rates]`, quoted per coin), integer
minor units, a payment's total or a donation's bounds, safe redirect URLs, an expiry within
bounds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.config import Settings
from app.errors import InvalidInput
from app.money import Amount
from app.sessions.models import SessionMode
from app.sessions.redirects import check_redirect_url
from app.sessions.schemas import MAX_AMOUNT_CENTS, CreateSessionRequest

DEFAULT_DONATION_MIN = 100
"""$1.00: smaller gifts cost more in fees than they bring."""
SUPPORTED_CURRENCY = "usd"


def cents_text(cents: int) -> str:
    return str(Amount(cents, 2))


@dataclass(frozen=True, slots=True)
class Validated:
    currency: str
    mode: SessionMode
    line_items: list[dict[str, object]]
    amount_total: int | None
    amount_min: int | None
    amount_max: int | None
    expires_at: dt.datetime
    metadata: dict[str, str] | None
    customer_email: str | None


def _currency(value: str, param: str, settings: Settings | None = None) -> str:
    """The session's currency in lower case: usd (1:1), or a fiat currency priced in `[rates]`."""
    code = value.lower()
    if code == SUPPORTED_CURRENCY:
        return code
    priced = settings.rates.fiat_currencies if settings and settings.rates else []
    if code.upper() in priced:
        return code
    if not priced:
        raise InvalidInput(
            f"currency {value!r} is not supported: sessions are paid 1:1 in USD stablecoins "
            "(USDT, USDC, DAI), so only usd is accepted",
            param=param,
        )
    accepted = ", ".join(sorted({SUPPORTED_CURRENCY, *(c.lower() for c in priced)}))
    raise InvalidInput(
        f"currency {value!r} is not supported: sessions are paid 1:1 in USD stablecoins "
        f"(USDT, USDC, DAI) or in a currency configured under [rates]; accepted: {accepted}",
        param=param,
    )


def _line_items(
    request: CreateSessionRequest, settings: Settings | None = None
) -> tuple[list[dict[str, object]], int | None, str]:
    if request.line_items is not None and request.amount is not None:
        raise InvalidInput("send either line_items or amount, not both", param="amount")
    if request.line_items is None:
        if request.amount is None:
            currency = _currency(request.currency or SUPPORTED_CURRENCY, "currency", settings)
            return [], None, currency
        name = request.product_title or "Payment"
        currency = _currency(request.currency or SUPPORTED_CURRENCY, "currency", settings)
        item = {
            "price_data": {
                "currency": currency,
                "product_data": {"name": name, "description": None},
                "unit_amount": request.amount,
            },
            "quantity": 1,
            "amount_total": request.amount,
        }
        return [item], request.amount, currency
    chosen: str | None = None
    if request.currency is not None:
        chosen = _currency(request.currency, "currency", settings)
    if not request.line_items:
        raise InvalidInput("line_items must not be empty", param="line_items")
    items: list[dict[str, object]] = []
    total = 0
    for index, line in enumerate(request.line_items):
        param = f"line_items[{index}][price_data][currency]"
        line_currency = _currency(line.price_data.currency, param, settings)
        if chosen is not None and line_currency != chosen:
            raise InvalidInput("every line item must be priced in the same currency", param=param)
        chosen = line_currency
        line_total = line.price_data.unit_amount * line.quantity
        total += line_total
        data = line.model_dump(mode="json")
        if line.price_data.product_data.images is None:
            del data["price_data"]["product_data"]["images"]
        data["price_data"]["currency"] = line_currency
        data["amount_total"] = line_total
        items.append(data)
    return items, total, chosen or SUPPORTED_CURRENCY


def _expiry(request: CreateSessionRequest, settings: Settings, now: dt.datetime) -> dt.datetime:
    config = settings.checkout_sessions
    if request.expires_at is None:
        return now + dt.timedelta(seconds=config.default_ttl_seconds)
    seconds = request.expires_at - int(now.timestamp())
    if not 60 <= seconds <= config.max_ttl_seconds:
        raise InvalidInput(
            f"expires_at must be between 60 seconds and {config.max_ttl_seconds} seconds from now",
            param="expires_at",
        )
    return dt.datetime.fromtimestamp(request.expires_at, dt.UTC)


def validate(request: CreateSessionRequest, settings: Settings, now: dt.datetime) -> Validated:
    """Everything a create request must satisfy, checked before anything is written."""
    if request.mode not in (SessionMode.PAYMENT, SessionMode.DONATION):
        raise InvalidInput(
            f"mode {request.mode!r} is not supported: use payment or donation "
            "(stablecoin payments here are one-time)",
            param="mode",
        )
    mode = SessionMode(request.mode)
    items, total, currency = _line_items(request, settings)
    amount_min = amount_max = None
    if mode is SessionMode.PAYMENT:
        if total is None:
            raise InvalidInput("a payment session needs line_items or amount", param="line_items")
        if total <= 0:
            raise InvalidInput("the session's total must be greater than 0", param="line_items")
        if total > MAX_AMOUNT_CENTS:
            raise InvalidInput(
                f"the session's total is above {cents_text(MAX_AMOUNT_CENTS)} usd",
                param="line_items",
            )
        for name in ("amount_min", "amount_max"):
            if getattr(request, name) is not None:
                raise InvalidInput(f"{name} is only for donation sessions", param=name)
    else:
        if len(items) > 1:
            raise InvalidInput("a donation session takes at most one line item", param="line_items")
        amount_min = request.amount_min or DEFAULT_DONATION_MIN
        amount_max = request.amount_max or MAX_AMOUNT_CENTS
        if amount_min > amount_max:
            raise InvalidInput("amount_min is above amount_max", param="amount_min")
        if total is not None and total > 0 and not amount_min <= total <= amount_max:
            raise InvalidInput(
                "the suggested amount is outside amount_min..amount_max", param="amount"
            )
        total = None  # the shopper chooses; the suggestion stays in line_items
    check_redirect_url("success_url", request.success_url, settings)
    if request.cancel_url is not None:
        check_redirect_url("cancel_url", request.cancel_url, settings)
    email = request.customer_email or request.email
    if email is not None and ("@" not in email.strip("@") or any(c.isspace() for c in email)):
        raise InvalidInput("customer_email is not an email address", param="customer_email")
    metadata = (
        {key: str(value) for key, value in request.metadata.items()}
        if request.metadata is not None
        else None
    )
    return Validated(
        currency,
        mode,
        items,
        total,
        amount_min,
        amount_max,
        _expiry(request, settings, now),
        metadata,
        email,
    )
