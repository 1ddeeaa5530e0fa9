/**
 * The webhooks of the API dialects (docs/compatibility.md), verified and typed (Node only).
 *
 * - OpenCheckout: `OpenCheckout-Signature: t=<unix>,v1=<hex>` over `"<t>.<body>"`, keyed with
 *   `[dialects.opencheckout].webhook_secret`;
 * - OVGC: `X-Webhook-Timestamp` and `X-Webhook-Signature: sha256=<hex>` over `"<timestamp>.<body>"`,
 *   keyed with `[dialects.ovgc].webhook_secret`;
 * - seed 002's callback: `Authorization: HMAC-SHA256 Signature=<hex>` over the body, keyed with the
 *   merchant secret (`[webhooks].format = "seed002"` sends it instead of Ocrch's order webhook).
 *
 * The first two carry a timestamp, refused beyond the tolerance (300 s); seed 002 has none, so
 * nothing bounds a replay of it: credit each payment once.
 */

import {
  type OpenCheckoutEvent,
  type OvgcEvent,
  type Seed002Event,
  type WebhookEvent,
  parseOpenCheckoutSession,
  parseOvgcSession,
  requireFields,
} from "./models.js";
import { SEED002_SCHEME, type VerifyOptions, verifyOvgc, verifySeed002, verifyTV1 } from "./signing.js";
import { HeaderFormat, type HeaderSource, guarded, header, jsonObject } from "./webhooks.js";

export const OPENCHECKOUT_HEADER = "opencheckout-signature";
export const OVGC_TIMESTAMP_HEADER = "x-webhook-timestamp";
export const OVGC_SIGNATURE_HEADER = "x-webhook-signature";
export const SEED002_HEADER = "authorization";

type EventOptions = VerifyOptions & { eventId?: string | null };

/** Verify an `OpenCheckout-Signature` webhook over the raw `body` and parse its event. */
export function verifyOpenCheckoutWebhook(
  secret: string,
  signature: string | null | undefined,
  body: string | Uint8Array,
  options: EventOptions = {},
): OpenCheckoutEvent {
  guarded(() => verifyTV1(secret, signature, body, { ...options, name: "OpenCheckout-Signature" }));
  const data = jsonObject(body);
  const fields = { id: "string", type: "string", status: "string", metadata: "object", session_id: "string", created_at: "string" } as const;
  const d = guarded(() => requireFields<Omit<OpenCheckoutEvent, "event_type" | "eventId" | "session">>(data, "webhook", fields));
  const session = guarded(() => parseOpenCheckoutSession(data.session));
  const { id, type, status, metadata, session_id, created_at } = d;
  return { event_type: "opencheckout", id, type, status, metadata, session_id, created_at, session, eventId: options.eventId ?? null };
}

/** Verify an OVGC webhook (`X-Webhook-Timestamp`, `X-Webhook-Signature`) and parse it. */
export function verifyOvgcWebhook(
  secret: string,
  timestamp: string | null | undefined,
  signature: string | null | undefined,
  body: string | Uint8Array,
  options: EventOptions = {},
): OvgcEvent {
  guarded(() => verifyOvgc(secret, timestamp, signature, body, options));
  const data = jsonObject(body);
  const d = guarded(() => requireFields<{ id: string; type: string; created_at: string }>(data, "webhook", { id: "string", type: "string", created_at: "string" }));
  const session = guarded(() => parseOvgcSession(data.data));
  return { event_type: "ovgc", id: d.id, type: d.type, created_at: d.created_at, data: session, eventId: options.eventId ?? null };
}

/** Verify seed 002's `Authorization: HMAC-SHA256 Signature=<hex>` over the raw `body` and parse it. */
export function verifySeed002Callback(
  secret: string,
  authorization: string | null | undefined,
  body: string | Uint8Array,
  options: { eventId?: string | null } = {},
): Seed002Event {
  guarded(() => verifySeed002(secret, authorization, body));
  const data = jsonObject(body);
  const d = guarded(() => requireFields<{ type: string; payload: Record<string, unknown> }>(data, "webhook", { type: "string", payload: "object" }));
  const fields = { amount: "number", paymentId: "string", sessionId: "string" } as const;
  const p = guarded(() => requireFields<{ amount: number; paymentId: string; sessionId: string }>(d.payload, "webhook payload", fields));
  const merchantOrderId = typeof d.payload.merchantOrderId === "string" ? d.payload.merchantOrderId : null;
  return { event_type: "seed002", type: d.type, amount: p.amount, paymentId: p.paymentId, sessionId: p.sessionId, merchantOrderId, eventId: options.eventId ?? null };
}

type CheckOptions = VerifyOptions & { eventId: string | null };

/** OpenCheckout dialect events: `OpenCheckout-Signature`, its own `webhook_secret`. */
export class OpenCheckoutWebhookFormat extends HeaderFormat {
  readonly headerName = OPENCHECKOUT_HEADER;
  protected check(headers: HeaderSource, body: string | Uint8Array, options: CheckOptions): WebhookEvent {
    return verifyOpenCheckoutWebhook(this.secret, header(headers, OPENCHECKOUT_HEADER), body, options);
  }
}

/** OVGC dialect events: `X-Webhook-Signature`, its own `webhook_secret`. */
export class OvgcWebhookFormat extends HeaderFormat {
  readonly headerName = OVGC_SIGNATURE_HEADER;
  protected check(headers: HeaderSource, body: string | Uint8Array, options: CheckOptions): WebhookEvent {
    const timestamp = header(headers, OVGC_TIMESTAMP_HEADER);
    return verifyOvgcWebhook(this.secret, timestamp, header(headers, OVGC_SIGNATURE_HEADER), body, options);
  }
}

/** Seed 002's callback: `Authorization: HMAC-SHA256 …`, keyed with `[merchant].secret` (no timestamp). */
export class Seed002WebhookFormat extends HeaderFormat {
  readonly headerName = SEED002_HEADER;
  override matches(headers: HeaderSource): boolean {
    return header(headers, SEED002_HEADER)?.trim().startsWith(`${SEED002_SCHEME} `) ?? false;
  }
  protected check(headers: HeaderSource, body: string | Uint8Array, options: CheckOptions): WebhookEvent {
    return verifySeed002Callback(this.secret, header(headers, SEED002_HEADER), body, options);
  }
}
