"""Wire types of the User API's payment options and payment details (api.md §3)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.chains import Blockchain, Coin


class PaymentRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    blockchain: Blockchain
    stablecoin: Coin


class ChainCoinPair(BaseModel):
    blockchain: Blockchain
    stablecoin: Coin
    wallet_address: str


class PaymentDetail(BaseModel):
    """Ocrch's `PaymentDetail`; `amount` is what the shopper must send, to the unit.

    Fields after the first five are additive: what a page needs to build a wallet link or QR code.
    """

    order_id: uuid.UUID
    wallet_address: str
    amount: str
    blockchain: Blockchain
    stablecoin: Coin
    amount_base_units: str
    decimals: int
    token_contract: str
    chain_id: int | None
    expires_at: int
    payment_uri: str
    quote: dict[str, Any] | None = None
    """A fiat order's locked quote: {currency, fiat_amount, rate, source, fetched_at,
    expires_at}; None for an order priced in coin units."""
