"""One webhook endpoint for several formats: `WebhookVerifier` picks the format whose signature
header is present. Epusdt and Epay callbacks carry no header of their own (the signature is in
the body or the query) and go to the `notify_url` of each order: verify them with `md5`."""

from __future__ import annotations

from collections.abc import Mapping

from stablecheckout_client.errors import WebhookVerificationError
from stablecheckout_client.models import WebhookEvent
from stablecheckout_client.webhooks import OcrchWebhookFormat, SessionWebhookFormat, WebhookFormat
from stablecheckout_client.webhooks_dialects import (
    OpenCheckoutWebhookFormat,
    OvgcWebhookFormat,
    Seed002WebhookFormat,
)


class WebhookVerifier:
    """The first format whose header is present verifies the request; a request that matches
    none is refused."""

    def __init__(self, *formats: WebhookFormat) -> None:
        self.formats: list[WebhookFormat] = list(formats)

    @classmethod
    def for_secrets(
        cls,
        *,
        merchant_secret: str | None = None,
        session_webhook_secret: str | None = None,
        opencheckout_secret: str | None = None,
        ovgc_secret: str | None = None,
    ) -> WebhookVerifier:
        """The formats of the secrets given: `merchant_secret` (`[merchant].secret`) verifies
        Ocrch order webhooks and seed 002 callbacks, `session_webhook_secret`
        (`[checkout_sessions].webhook_secret`) session events, `opencheckout_secret` and
        `ovgc_secret` (`[dialects.*].webhook_secret`) those dialects' events."""
        formats: list[WebhookFormat] = []
        if merchant_secret is not None:
            formats += [OcrchWebhookFormat(merchant_secret), Seed002WebhookFormat(merchant_secret)]
        if session_webhook_secret is not None:
            formats.append(SessionWebhookFormat(session_webhook_secret))
        if opencheckout_secret is not None:
            formats.append(OpenCheckoutWebhookFormat(opencheckout_secret))
        if ovgc_secret is not None:
            formats.append(OvgcWebhookFormat(ovgc_secret))
        return cls(*formats)

    def register(self, fmt: WebhookFormat) -> None:
        """Add a format; earlier formats are tried first."""
        self.formats.append(fmt)

    def verify(
        self, headers: Mapping[str, str], body: bytes, *, now: int | None = None
    ) -> WebhookEvent:
        for fmt in self.formats:
            if fmt.matches(headers):
                return fmt.verify(headers, body, now=now)
        raise WebhookVerificationError("no signature header of an enabled webhook format")
