"""What each expected failure answers at the HTTP edge: one row per error, its status and exact
text (a template over the error's fields). The Ocrch texts are api.md's, byte for byte.

`ANSWERS` is what Ocrch's plain-text routes and our own JSON routes say. A surface with its own
words or codes keeps a table of the same shape beside its routes, naming only what differs: the
Admin API (`app.admin.routes`), Checkout Sessions and the dialects built on it
(`app.sessions.routes`), Epusdt (`app.dialects.epusdt`) and Epay (`app.dialects.epay`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app import errors as e


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None = None
    """The HTTP status (in Epusdt's table, its `status_code`); None in a surface's table: the
    common one."""
    text: str | None = None
    """`str.format` template over the error's fields; None in a surface's table: the common one."""


Table = Mapping[type[e.AppError], Answer]

ANSWERS: dict[type[e.AppError], Answer] = {
    e.AppError: Answer(500, "internal server error"),
    e.InvalidInput: Answer(400, "{reason}"),
    # request bodies (the User API's texts are axum's `Json` extractor's)
    e.WrongContentType: Answer(415, "Expected request with `Content-Type: application/json`"),
    e.BodyTooLarge: Answer(400, "Failed to buffer the request body: length limit exceeded"),
    e.MalformedJson: Answer(400, "Failed to parse the request body as JSON: {detail}"),
    e.NotAJsonObject: Answer(400, "the request body must be a JSON object"),
    e.InvalidJsonBody: Answer(400, "invalid JSON body"),
    e.BodyNotDeserializable: Answer(
        422, "Failed to deserialize the JSON body into the target type: {where}: {detail}"
    ),
    e.UnknownParameter: Answer(400, "unknown parameter: {param}"),
    e.MissingParameter: Answer(400, "missing required parameter: {param}"),
    e.InvalidParameter: Answer(400, "invalid {param}: {detail}"),
    e.UrlTooLong: Answer(400, "{param} is longer than {limit} characters"),
    e.UrlNotHttp: Answer(400, "{param} must be an absolute http:// or https:// URL"),
    e.WebhookTargetBlocked: Answer(400, "{param}: {reason}"),
    e.UnstorableText: Answer(
        400,
        "the {part} holds a NUL character, a lone surrogate or invalid UTF-8, which are not "
        "accepted",
    ),
    e.UnsignableBody: Answer(400, "arrays and objects cannot be signed"),
    # authentication (api.md §1.2-1.4)
    e.SignatureMissing: Answer(401, "missing Ocrch-Signature header"),
    e.MalformedSignatureHeader: Answer(400, "invalid Ocrch-Signature header format"),
    e.MalformedSignedUrlHeaders: Answer(400, "invalid header format"),
    e.UnreadableBody: Answer(400, "failed to read request body"),
    e.SignatureNotBase64: Answer(400, "invalid signature encoding"),
    e.SignatureMismatch: Answer(401, "signature verification failed"),
    e.SignatureExpired: Answer(401, "signature expired"),
    e.SignedUrlMissing: Answer(400, "missing Ocrch-Signed-Url header"),
    e.OriginNotAllowed: Answer(403, "origin not allowed"),
    e.SignedUrlForAnotherOrder: Answer(403, "signed url does not match order"),
    e.AdminSecretMissing: Answer(401, "missing Ocrch-Admin-Authorization header"),
    e.MalformedAdminHeader: Answer(400, "invalid authorization header"),
    e.AdminSecretRejected: Answer(401, "invalid admin secret"),
    e.MetricsTokenRequired: Answer(401, "metrics need Authorization: Bearer <[metrics].token>"),
    e.MetricsLoopbackOnly: Answer(
        403, "metrics answer loopback clients only; set [metrics].token to scrape remotely"
    ),
    e.ApiKeyMissing: Answer(
        401,
        "You did not provide an API key: send `Authorization: Bearer sk_live_…` (or sk_test_…)",
    ),
    e.MalformedAuthorization: Answer(
        401, "Invalid Authorization header: expected `Bearer sk_live_…`"
    ),
    e.NotASecretKey: Answer(
        401, "Invalid API key provided: secret keys start with sk_live_ or sk_test_"
    ),
    e.UnknownApiKey: Answer(401, "Invalid API key provided: {redacted}"),
    e.ApiKeyRevoked: Answer(401, "This API key was revoked: {redacted}"),
    e.ApiKeyNotFound: Answer(404, "no API key matches {reference!r}"),
    e.AmbiguousApiKey: Answer(400, "{reference!r} matches {count} keys: give the key id"),
    e.UnknownPid: Answer(400, "unknown pid"),
    # orders, payments, transfers
    e.InvalidOrderId: Answer(400, "Invalid URL: order_id is not a UUID"),
    e.InvalidTransferId: Answer(400, "invalid transfer id"),
    e.OrderNotFound: Answer(404, "order not found"),
    e.OrderNotPending: Answer(409, "order is not pending"),
    e.OrderAlreadyPaid: Answer(409, "order is already paid"),
    e.TransferNotFound: Answer(404, "transfer not found"),
    e.TransferAlreadyMatched: Answer(409, "transfer already pays an order"),
    e.TransferNotConfirmed: Answer(409, "transfer is not confirmed yet"),
    e.AmountNotPositive: Answer(400, "{param} must be greater than 0"),
    e.NoWallet: Answer(400, "no wallet available for the selected chain and coin"),
    e.NoTestWallet: Answer(
        400, "no test-mode wallet ([[wallets]] with test = true) for the selected chain and coin"
    ),
    e.NoWalletConfigured: Answer(400, "no wallet is configured"),
    e.UnknownWalletAddress: Answer(400, "address is not a configured wallet"),
    e.AmountTooFine: Answer(400, "order amount is finer than {coin} can carry"),
    e.NoFreeAmount: Answer(
        503,
        "no unique amount is free for {coin} on {blockchain}; try another chain or coin, or try "
        "again later",
    ),
    e.InvalidCurrency: Answer(400, "{reason}"),
    e.InvalidFiatAmount: Answer(400, "{reason}"),
    e.CurrencyNotConfigured: Answer(
        400, "currency {currency} is not configured for pricing (configured: {configured})"
    ),
    e.CurrencyNoLongerPriced: Answer(400, "{currency} is not a configured currency"),
    e.RatesNotConfigured: Answer(503, "no exchange rate is configured ([rates])"),
    e.NoRate: Answer(503, "no fresh rate for {pair}"),
    e.UnsupportedTradeType: Answer(400, "unsupported trade_type: {trade_type}"),
    e.DuplicateOrder: Answer(409, "order id already exists with other parameters"),
    e.DatabaseUnavailable: Answer(503, "database unavailable, retry later"),
    e.IdempotencyKeyInvalid: Answer(400, "Idempotency-Key must be 1 to 255 characters"),
    e.IdempotencyKeyReused: Answer(
        409, "Idempotency-Key was already used with a different request body"
    ),
    e.IdempotencyKeyInFlight: Answer(
        409, "a request with this Idempotency-Key is still being processed"
    ),
    # webhooks
    e.SessionStillOpen: Answer(
        409, "the order's checkout session is still open: no session event to resend"
    ),
    e.NoSessionWebhookUrl: Answer(
        409, "no [checkout_sessions].webhook_url was set for this session"
    ),
    e.DialectOrderUnpaid: Answer(409, "Epusdt and Epay orders are notified only once paid"),
    # checkout sessions
    e.NoPublicUrl: Answer(
        503,
        "checkout sessions need [server].public_url (the address shoppers reach): this server "
        "listens on {listen}, which no browser can open",
    ),
    e.SessionNotFound: Answer(404, "No such checkout session: {session_id!r}"),
    e.SessionOrderNotFound: Answer(404, "no such checkout session order"),
    e.SessionNotOpen: Answer(400, "only an open session can be expired; this one is {status}"),
    e.SessionChangedMeanwhile: Answer(409, "the session became {status} meanwhile"),
    e.NotAnOpenDonation: Answer(409, "this checkout is {status}"),
    e.DonationExpired: Answer(409, "this checkout has expired"),
    e.SubscriptionRefused: Answer(
        400,
        "mode 'subscription' is not supported: stablecoin payments are pushed by the payer, so "
        "nothing can be charged again without them; create a new payment session for each "
        "period (e.g. from your billing job) and send the customer its url",
    ),
    e.KeyLimitReached: Answer(429, "this API key is over a session limit"),
    e.TooManySessionsPerMinute: Answer(
        429,
        "this API key created {count} checkout sessions in the last minute; the limit is {limit} "
        "([checkout_sessions].max_sessions_per_minute_per_key)",
    ),
    e.TooManyOpenSessions: Answer(
        429,
        "this API key has {count} open checkout sessions; the limit is {limit} "
        "([checkout_sessions].max_open_sessions_per_key): expire unused ones "
        "(POST /api/v1/checkout/sessions/{{id}}/expire) or wait",
    ),
    # refunds (app/refunds, the admin exceptions queue)
    e.RefundNotFound: Answer(404, "refund item not found"),
    e.RefundAlreadyClaimed: Answer(409, "this refund has already been claimed"),
    e.TransferRefundClaimed: Answer(409, "the transfer's refund was already claimed by the sender"),
    e.RefundNotOpen: Answer(409, "refund item {item_id} is already {status}"),
    e.RefundAlreadySent: Answer(409, "refund item {item_id} is already sent ({tx_hash})"),
    e.RefundClaimedMeanwhile: Answer(
        409, "refund item {item_id} was claimed meanwhile: check it again"
    ),
    e.RefundChangedMeanwhile: Answer(
        409, "refund item {item_id} changed meanwhile: check it again"
    ),
    e.RefundTransferTaken: Answer(409, "that transfer already paid refund item {item_id}"),
    e.RefundTransfersTaken: Answer(
        409, "the transfers of {tx_hash} already paid other refund items"
    ),
    e.OrderRefundSettled: Answer(
        409,
        "refund item {item_id} of this order is already {status}: the shopper asked for the "
        "money back",
    ),
    e.RefundNotInTransaction: Answer(
        409,
        "transaction {tx_hash} moves no {amount} {token} from {wallet} to {target}: nothing "
        "was marked",
    ),
    e.TransactionUnknown: Answer(409, "the {blockchain} node knows no mined transaction {tx_hash}"),
    e.NodeCheckUnavailable: Answer(503, "cannot check {tx_hash} on {blockchain}: {detail}"),
}


def _row(table: Table, kind: type[e.AppError]) -> Answer | None:
    """The row of the nearest class in `kind`'s MRO that `table` names."""
    for cls in kind.__mro__:
        row = table.get(cls)
        if row is not None:
            return row
    return None


def answer(exc: e.AppError, *surfaces: Table) -> tuple[int, str]:
    """(status, text) for `exc`: from the first of `surfaces` (nearest first) whose row gives
    one, else from the common row."""
    rows = [row for table in surfaces if (row := _row(table, type(exc))) is not None]
    common = _row(ANSWERS, type(exc))
    assert common is not None and common.status is not None and common.text is not None
    status = next((row.status for row in rows if row.status is not None), common.status)
    template = next((row.text for row in rows if row.text is not None), common.text)
    return status, template.format_map(facts(exc))


def facts(exc: e.AppError) -> dict[str, Any]:
    """What a template may name: the error's fields and its `param`."""
    return {"param": exc.param, **vars(exc)}


def retry_headers(exc: e.AppError) -> dict[str, str] | None:
    """`Retry-After` for a refusal that ends at a known time."""
    if isinstance(exc, e.KeyLimitReached):
        return {"Retry-After": str(exc.retry_after)}
    return None
