"""`order_body` (the watcher's pushes) is `order_response(...).model_dump(mode="json")`, built
without pydantic: same keys in the same order, same values, for orders in every state."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from app.orders.models import Order, OrderStatus
from app.orders.service import order_body, order_message, order_response

NOW = dt.datetime(2026, 5, 1, 12, 0, 30, 500_000, tzinfo=dt.UTC)


def _order(**fields: Any) -> Order:
    values: dict[str, Any] = {
        "id": uuid.UUID("0193b1a2-0000-7000-8000-000000000001"),
        "merchant_order_id": "shop-1",
        "amount_units": 1_050,
        "amount_scale": 2,
        "currency": None,
        "status": OrderStatus.PENDING,
        "webhook_url": "https://shop.example/hook",
        "success_url": None,
        "cancel_url": None,
        "metadata_": None,
        "created_at": NOW,
        "expires_at": NOW + dt.timedelta(minutes=15),
        "amount_received": 0,
        "payment_exceptions": "",
    }
    values.update(fields)
    return Order(**values)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"status": OrderStatus.PAID, "amount_received": 10_500_000},
        {"status": "paid", "amount_received": 11_000_000, "payment_exceptions": "overpaid"},
        {
            "status": OrderStatus.PENDING,
            "amount_received": 4_000_000,
            "payment_exceptions": "partial",
        },
        {"status": OrderStatus.EXPIRED, "payment_exceptions": "partial,late"},
        {
            "currency": "EUR",
            "amount_units": 1999,
            "amount_received": 19_985_001,
            "metadata_": {"cart": [1, {"sku": "a"}], "note": None},
            "success_url": "https://shop.example/ok",
            "cancel_url": "https://shop.example/no",
        },
        {"status": OrderStatus.CANCELLED, "amount_units": 7, "amount_scale": 0},
    ],
)
def test_the_body_is_the_response_model_dumped(fields: dict[str, Any]) -> None:
    order = _order(**fields)
    expected = order_response(order).model_dump(mode="json")
    body = order_body(order)
    assert list(body) == list(expected)
    assert body == expected
    assert json.dumps(body) == json.dumps(expected)
    assert order_message(order) == {"type": "status_update", "order": expected}
