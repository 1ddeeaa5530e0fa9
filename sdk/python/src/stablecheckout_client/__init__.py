"""stablecheckout merchant SDK: signed Service API calls, checkout links, the User API,
Checkout Sessions, and verification of every webhook the server sends."""

from stablecheckout_client.aio import AsyncClient, AsyncSessionsClient, AsyncUserClient
from stablecheckout_client.client import Client, SessionsClient, UserClient
from stablecheckout_client.errors import (
    ApiError,
    InvalidResponseError,
    StablecheckoutError,
    TransportError,
    WebhookVerificationError,
)
from stablecheckout_client.models import (
    TERMINAL_STATUSES,
    ChainCoinPair,
    CheckoutSession,
    Order,
    OrderStatusChanged,
    PaymentDetail,
    SessionEvent,
    SessionList,
    UnknownTransferReceived,
    UnrecognizedEvent,
    WebhookEvent,
)
from stablecheckout_client.signing import checkout_link, sign_body, sign_url
from stablecheckout_client.webhooks import (
    OcrchWebhookFormat,
    SessionWebhookFormat,
    WebhookFormat,
    WebhookVerifier,
    verify_ocrch_webhook,
    verify_session_webhook,
)

__version__ = "0.1.0"
__all__ = [
    "TERMINAL_STATUSES",
    "ApiError",
    "AsyncClient",
    "AsyncSessionsClient",
    "AsyncUserClient",
    "ChainCoinPair",
    "CheckoutSession",
    "Client",
    "InvalidResponseError",
    "OcrchWebhookFormat",
    "Order",
    "OrderStatusChanged",
    "PaymentDetail",
    "SessionEvent",
    "SessionList",
    "SessionWebhookFormat",
    "SessionsClient",
    "StablecheckoutError",
    "TransportError",
    "UnknownTransferReceived",
    "UnrecognizedEvent",
    "UserClient",
    "WebhookEvent",
    "WebhookFormat",
    "WebhookVerificationError",
    "WebhookVerifier",
    "checkout_link",
    "sign_body",
    "sign_url",
    "verify_ocrch_webhook",
    "verify_session_webhook",
]
