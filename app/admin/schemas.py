"""Wire types of the Admin API (api.md §4), Ocrch's fields first, ours after."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict


class AdminOrder(BaseModel):
    order_id: uuid.UUID
    merchant_order_id: str
    amount: str
    status: str
    created_at: int
    webhook_url: str
    webhook_retry_count: int
    webhook_success_at: int | None
    webhook_last_tried_at: int | None
    expires_at: int
    paid_at: int | None
    status_reason: str | None
    metadata: dict[str, Any] | None
    currency: str | None = None
    """ISO 4217 code of a fiat-priced order's `amount` (docs/pricing.md); null: coin units."""


class AdminDeposit(BaseModel):
    id: int
    order_id: uuid.UUID
    blockchain: str
    token: str
    user_address: str | None
    wallet_address: str
    value: str
    started_at: int
    last_scanned_at: int
    status: str
    reserved_until: int
    quote: dict[str, Any] | None = None
    """A fiat order's locked quote: the fiat price beside the coin `value` (docs/pricing.md)."""


class AdminTransfer(BaseModel):
    id: int
    blockchain: str
    token: str
    from_address: str
    to_address: str
    txn_hash: str
    value: str
    block_number: int
    block_timestamp: int
    blockchain_confirmed: bool
    created_at: int
    status: str
    fulfillment_id: int | None
    log_index: int
    order_id: uuid.UUID | None
    late: bool
    duplicate: bool
    quote: dict[str, Any] | None = None
    """The paid deposit's locked quote, for a fiat-priced order: the fiat value of `value`."""


class AdminWallet(BaseModel):
    blockchain: str
    address: str
    enabled_coins: list[str]


class MarkPaidRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: str | None = None


class AttachRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    order_id: uuid.UUID
    reason: str | None = None


class CheckoutLink(BaseModel):
    url: str
    signed_url: str
    signature: str
    expires_at: int


class Total(BaseModel):
    day: str
    blockchain: str
    token: str
    count: int
    amount: str
    fiat: dict[str, str] | None = None
    """Fiat-priced orders among them: the prices they paid, per currency ({"EUR": "120.00"})."""


class AdminActionOut(BaseModel):
    id: int
    created_at: int
    actor: str
    action: str
    target: str
    reason: str | None
    details: dict[str, Any] | None
