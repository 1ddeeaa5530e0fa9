/**
 * One webhook endpoint for several formats (Node only): `WebhookVerifier` picks the format whose
 * signature header is present. Epusdt and Epay callbacks carry no header of their own (the
 * signature is in the body or the query) and go to each order's `notify_url`: see `md5.ts`.
 */

import { OpenCheckoutWebhookFormat, OvgcWebhookFormat, Seed002WebhookFormat } from "./dialects.js";
import { WebhookVerificationError } from "./errors.js";
import type { WebhookEvent } from "./models.js";
import type { VerifyOptions } from "./signing.js";
import { type HeaderSource, OcrchWebhookFormat, SessionWebhookFormat, type WebhookFormat } from "./webhooks.js";

export interface WebhookSecrets {
  /** `[merchant].secret`: Ocrch order webhooks and seed 002 callbacks. */
  merchantSecret?: string;
  /** `[checkout_sessions].webhook_secret`: Checkout Session events. */
  sessionWebhookSecret?: string;
  /** `[dialects.opencheckout].webhook_secret`. */
  openCheckoutSecret?: string;
  /** `[dialects.ovgc].webhook_secret`. */
  ovgcSecret?: string;
}

/** The first format whose header is present decides; a request that matches none is refused. */
export class WebhookVerifier {
  readonly formats: WebhookFormat[];

  constructor(...formats: WebhookFormat[]) {
    this.formats = formats;
  }

  static forSecrets(secrets: WebhookSecrets): WebhookVerifier {
    const formats: WebhookFormat[] = [];
    if (secrets.merchantSecret !== undefined) {
      formats.push(new OcrchWebhookFormat(secrets.merchantSecret), new Seed002WebhookFormat(secrets.merchantSecret));
    }
    if (secrets.sessionWebhookSecret !== undefined) formats.push(new SessionWebhookFormat(secrets.sessionWebhookSecret));
    if (secrets.openCheckoutSecret !== undefined) formats.push(new OpenCheckoutWebhookFormat(secrets.openCheckoutSecret));
    if (secrets.ovgcSecret !== undefined) formats.push(new OvgcWebhookFormat(secrets.ovgcSecret));
    return new WebhookVerifier(...formats);
  }

  /** Add a format; earlier formats are tried first. */
  register(format: WebhookFormat): this {
    this.formats.push(format);
    return this;
  }

  verify(headers: HeaderSource, body: string | Uint8Array, options: VerifyOptions = {}): WebhookEvent {
    for (const format of this.formats) {
      if (format.matches(headers)) return format.verify(headers, body, options);
    }
    throw new WebhookVerificationError("no signature header of an enabled webhook format");
  }
}
