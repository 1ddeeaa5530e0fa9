"""Expected failures, each named for what happened and carrying the facts that say it.

An error knows nothing of HTTP: the status and the exact text a client sees are looked up at the
edge, in one row per error of `app.answers.ANSWERS` (Ocrch's plain-text routes and our JSON
routes). A surface that words or codes things its own way (the Admin API, Checkout Sessions and
its dialects, Epusdt, Epay) has a table of its own beside its routes, keyed by these same classes.

`InvalidInput` is the generic field-level refusal (with `param`) for checks whose text is the
only thing worth saying; everything else gets a class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, dataclass_transform


@dataclass_transform(eq_default=False, field_specifiers=(field,))
class AppError(Exception):
    """An expected failure: never a 500. `param` names the request field at fault, if any.

    Every subclass is a dataclass of its facts (`NoWallet(pair)`), compared by identity."""

    param: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(eq=False)(cls)

    @property
    def status_code(self) -> int:
        """What the common table answers (for callers outside an HTTP route: CLIs, sockets)."""
        from app.answers import answer  # the edge's table imports this module

        return answer(self)[0]

    @property
    def message(self) -> str:
        from app.answers import answer

        return answer(self)[1]

    def __str__(self) -> str:
        return self.message


class InvalidInput(AppError):
    """A field-level refusal whose text says it all ("amount must be at most …")."""

    reason: str
    param: str | None = None


# --- request bodies -------------------------------------------------------------------------


class WrongContentType(AppError):
    """A JSON endpoint received something other than `Content-Type: application/json`."""


class BodyTooLarge(AppError):
    limit: int


class MalformedJson(AppError):
    detail: str


class NotAJsonObject(AppError):
    pass


class InvalidJsonBody(AppError):
    """A signed (Service API) or admin body that is not the expected request type."""


class BodyNotDeserializable(AppError):
    """JSON of the wrong shape on the User API (axum's `Json` rejection, 422)."""

    where: str
    detail: str


class UnknownParameter(AppError):
    param: str = field()  # required: not `AppError.param`'s None


class MissingParameter(AppError):
    param: str = field()


class InvalidParameter(AppError):
    param: str = field()
    detail: str = field()


class UrlTooLong(AppError):
    param: str = field()
    limit: int = field()


class UrlNotHttp(AppError):
    """Not an absolute `http://` or `https://` URL with a host."""

    param: str = field()


class WebhookTargetBlocked(AppError):
    """A webhook URL whose host is a non-public IP literal (`app.webhooks.ssrf`)."""

    param: str = field()
    reason: str = field()


class UnstorableText(AppError):
    """NUL, a lone surrogate or invalid UTF-8 in the path, query or headers."""

    part: str


class UnsignableBody(AppError):
    """An MD5-signed body with arrays or objects, which the dialects' signing cannot cover."""


# --- authentication -------------------------------------------------------------------------


class SignatureMissing(AppError):
    pass


class MalformedSignatureHeader(AppError):
    """The Service API's `Ocrch-Signature` is not `{ts}.{base64}` in visible ASCII."""


class MalformedSignedUrlHeaders(AppError):
    """The User API's `Ocrch-Signature` or `Ocrch-Signed-Url` is malformed."""


class UnreadableBody(AppError):
    """A signed body over the size limit or not UTF-8."""


class SignatureNotBase64(AppError):
    pass


class SignatureMismatch(AppError):
    """The HMAC does not match (on the Service API, also a stale timestamp, as in Ocrch)."""


class SignatureExpired(AppError):
    pass


class SignedUrlMissing(AppError):
    pass


class OriginNotAllowed(AppError):
    pass


class SignedUrlForAnotherOrder(AppError):
    pass


class AdminSecretMissing(AppError):
    pass


class MalformedAdminHeader(AppError):
    pass


class AdminSecretRejected(AppError):
    pass


class MetricsTokenRequired(AppError):
    pass


class MetricsLoopbackOnly(AppError):
    pass


class ApiKeyMissing(AppError):
    pass


class MalformedAuthorization(AppError):
    pass


class NotASecretKey(AppError):
    pass


class UnknownApiKey(AppError):
    redacted: str


class ApiKeyRevoked(AppError):
    redacted: str


class ApiKeyNotFound(AppError):
    reference: str


class AmbiguousApiKey(AppError):
    reference: str
    count: int


class UnknownPid(AppError):
    """An Epay request for a merchant id (`pid`) other than `[epay].pid`."""


# --- orders, payments, transfers ------------------------------------------------------------


class InvalidOrderId(AppError):
    pass


class InvalidTransferId(AppError):
    pass


class OrderNotFound(AppError):
    pass


class OrderNotPending(AppError):
    pass


class OrderAlreadyPaid(AppError):
    pass


class TransferNotFound(AppError):
    pass


class TransferAlreadyMatched(AppError):
    pass


class TransferNotConfirmed(AppError):
    pass


# --- refunds ---------------------------------------------------------------------------------


class RefundNotFound(AppError):
    pass


class RefundAlreadyClaimed(AppError):
    """A second submit of a claim page, or a replayed link."""


class TransferRefundClaimed(AppError):
    """An unattributed transfer's money was claimed back by its sender: it cannot pay an order."""


class RefundNotOpen(AppError):
    item_id: int
    status: str


class RefundAlreadySent(AppError):
    item_id: int
    tx_hash: str


class RefundClaimedMeanwhile(AppError):
    item_id: int


class RefundChangedMeanwhile(AppError):
    item_id: int


class RefundTransferTaken(AppError):
    """One on-chain transfer pays one refund item."""

    item_id: int


class RefundTransfersTaken(AppError):
    tx_hash: str


class OrderRefundSettled(AppError):
    """Accepting an order as paid would withdraw a refund its shopper already asked for."""

    item_id: int
    status: str


class RefundNotInTransaction(AppError):
    """The operator's transaction moves nothing that matches the refund owed."""

    tx_hash: str
    amount: str
    token: str
    wallet: str
    target: str


class TransactionUnknown(AppError):
    blockchain: str
    tx_hash: str


class NodeCheckUnavailable(AppError):
    blockchain: str
    tx_hash: str
    detail: str


class AmountNotPositive(AppError):
    param: str = "amount"


class NoWallet(AppError):
    """No wallet takes the chosen chain and coin; `pair` names it (`usdt.trc20`)."""

    pair: str


class NoTestWallet(AppError):
    pair: str


class NoWalletConfigured(AppError):
    pass


class UnknownWalletAddress(AppError):
    """An Epusdt `address` that is none of the configured wallets."""


class AmountTooFine(AppError):
    """The order's amount has more digits than the chosen coin carries."""

    coin: str


class NoFreeAmount(AppError):
    """Every unique amount near the price is reserved on this chain and coin."""

    coin: str
    blockchain: str


class _AboutCurrency(AppError):
    param = "currency"


class InvalidCurrency(_AboutCurrency):
    """Not an ISO 4217 code we know (`reason` says why, in `app.rates.currencies`' words)."""

    reason: str


class InvalidFiatAmount(AppError):
    """An amount the fiat currency cannot be written in (finer than its minor unit, …)."""

    reason: str
    param = "amount"


class CurrencyNotConfigured(_AboutCurrency):
    currency: str
    configured: str


class CurrencyNoLongerPriced(_AboutCurrency):
    """A fiat order's currency left `[rates]` after the order was made."""

    currency: str


class RatesNotConfigured(AppError):
    pass


class NoRate(AppError):
    pair: str


class UnsupportedTradeType(AppError):
    trade_type: str


class DuplicateOrder(AppError):
    """A dialect order id still waiting for payment, sent again with other parameters."""


class DatabaseUnavailable(AppError):
    pass


class _AboutIdempotencyKey(AppError):
    param = "Idempotency-Key"


class IdempotencyKeyInvalid(_AboutIdempotencyKey):
    pass


class IdempotencyKeyReused(_AboutIdempotencyKey):
    """The key was used before with another body."""


class IdempotencyKeyInFlight(_AboutIdempotencyKey):
    """The first request with the key has not answered yet."""


# --- webhooks -------------------------------------------------------------------------------


class SessionStillOpen(AppError):
    """A resend for an order whose checkout session has not ended: no event exists yet."""


class NoSessionWebhookUrl(AppError):
    pass


class DialectOrderUnpaid(AppError):
    """Epusdt and Epay orders are notified only once paid."""


# --- checkout sessions ----------------------------------------------------------------------


class NoPublicUrl(AppError):
    listen: str


class _AboutSessionId(AppError):
    param = "id"


class SessionNotFound(_AboutSessionId):
    """No session with this id, or one the key's mode may not see."""

    session_id: str


class SessionOrderNotFound(AppError):
    pass


class SessionNotOpen(_AboutSessionId):
    """Only an open session can be expired."""

    status: str


class SessionChangedMeanwhile(_AboutSessionId):
    """Expiring lost a race: the session completed or was cancelled in between."""

    status: str


class NotAnOpenDonation(AppError):
    status: str


class DonationExpired(AppError):
    pass


class SubscriptionRefused(AppError):
    pass


class KeyLimitReached(AppError):
    """An API key is over one of its session limits; `retry_after` seconds until it is not."""

    count: int
    limit: int
    retry_after: int


class TooManySessionsPerMinute(KeyLimitReached):
    pass


class TooManyOpenSessions(KeyLimitReached):
    pass
