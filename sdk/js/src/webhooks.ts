/**
 * Verifying what the server POSTs to you, before trusting a byte of it (Node only): the formats
 * of our own APIs, and what every format shares (`WebhookFormat`, a case-insensitive header lookup).
 *
 * Ocrch order webhooks (`Ocrch-Signature`, the merchant secret) and Checkout Session events
 * (`Stablecheckout-Signature`, the session webhook secret `whsec_…`). The dialects' formats are
 * in `dialects.ts` (OpenCheckout, OVGC, seed 002) and `md5.ts` (Epusdt, Epay); `verifier.ts`
 * serves several formats on one endpoint.
 */

import { InvalidResponseError, WebhookVerificationError } from "./errors.js";
import {
  type OrderStatusChanged,
  type SessionEvent,
  type UnknownTransferReceived,
  type UnrecognizedEvent,
  type WebhookEvent,
  parseSession,
  requireFields,
} from "./models.js";
import { type VerifyOptions, verifyBodySignature, verifySessionSignature } from "./signing.js";

export const OCRCH_HEADER = "ocrch-signature";
export const SESSION_HEADER = "stablecheckout-signature";
export const EVENT_ID_HEADER = "stablecheckout-event-id";

/** Node's `req.headers`, a Fetch `Headers`, or a plain object. */
export type HeaderSource =
  | Headers
  | Record<string, string | string[] | undefined>
  | { get(name: string): string | null | undefined };

export function header(headers: HeaderSource, name: string): string | null {
  if (typeof (headers as { get?: unknown }).get === "function") {
    return (headers as { get(name: string): string | null | undefined }).get(name) ?? null;
  }
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() === wanted) return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
  }
  return null;
}

export interface WebhookFormat {
  matches(headers: HeaderSource): boolean;
  verify(headers: HeaderSource, body: string | Uint8Array, options?: VerifyOptions): WebhookEvent;
}

export function jsonObject(body: string | Uint8Array): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(typeof body === "string" ? body : new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new WebhookVerificationError("the signed body is not JSON");
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new WebhookVerificationError("the signed body is not a JSON object");
  }
  return data as Record<string, unknown>;
}

/**
 * Run `check`: a bad signature (the plain `Error` of `signing.ts`) or a signed body that is not
 * what its format promises (`InvalidResponseError`) refuses the webhook.
 */
export function guarded<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof InvalidResponseError || (error instanceof Error && error.constructor === Error)) {
      throw new WebhookVerificationError(error.message);
    }
    throw error;
  }
}

/** Verify an `Ocrch-Signature` webhook over the raw `body` and parse its event. */
export function verifyOcrchWebhook(
  secret: string,
  signature: string | null | undefined,
  body: string | Uint8Array,
  options: VerifyOptions & { eventId?: string | null } = {},
): OrderStatusChanged | UnknownTransferReceived | UnrecognizedEvent {
  guarded(() => verifyBodySignature(secret, signature, body, options));
  const data = jsonObject(body);
  const eventId = options.eventId ?? null;
  if (data.event_type === "order_status_changed") {
    const fields = { order_id: "string", merchant_order_id: "string", status: "string", amount: "string", timestamp: "number" } as const;
    const d = guarded(() => requireFields<OrderStatusChanged>(data, "webhook", fields));
    const { order_id, merchant_order_id, status, amount, timestamp } = d;
    return { event_type: "order_status_changed", order_id, merchant_order_id, status, amount, timestamp, eventId };
  }
  if (data.event_type === "unknown_transfer_received") {
    const fields = { transfer_id: "number", blockchain: "string", timestamp: "number" } as const;
    const d = guarded(() => requireFields<UnknownTransferReceived>(data, "webhook", fields));
    return { event_type: "unknown_transfer_received", transfer_id: d.transfer_id, blockchain: d.blockchain, timestamp: d.timestamp, eventId };
  }
  return { event_type: "unrecognized", type: String(data.event_type), payload: data, eventId };
}

/** Verify a `Stablecheckout-Signature` event with the session webhook secret and parse it. */
export function verifySessionWebhook(
  secret: string,
  signature: string | null | undefined,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): SessionEvent | UnrecognizedEvent {
  guarded(() => verifySessionSignature(secret, signature, body, options));
  const data = jsonObject(body);
  const type = data.type;
  const id = typeof data.id === "string" ? data.id : null;
  if (typeof type !== "string" || !type.startsWith("checkout.session.")) {
    return { event_type: "unrecognized", type: String(type), payload: data, eventId: id };
  }
  const d = guarded(() => requireFields<{ id: string; created: number }>(data, "event", { id: "string", created: "number" }));
  const object = (data.data as { object?: unknown } | undefined)?.object;
  const session = guarded(() => parseSession(object));
  return { event_type: "checkout.session", id: d.id, type, created: d.created, livemode: Boolean(data.livemode), session };
}

/**
 * A format recognised by its signature header (`headerName`) and keyed with one secret; a subclass
 * says how it verifies (`check`). Timestamps beyond `toleranceSeconds` are refused where the
 * scheme has one.
 */
export abstract class HeaderFormat implements WebhookFormat {
  abstract readonly headerName: string;
  constructor(readonly secret: string, readonly toleranceSeconds?: number) {}
  matches(headers: HeaderSource): boolean {
    return header(headers, this.headerName) !== null;
  }
  verify(headers: HeaderSource, body: string | Uint8Array, options: VerifyOptions = {}): WebhookEvent {
    return this.check(headers, body, { toleranceSeconds: this.toleranceSeconds, ...options, eventId: header(headers, EVENT_ID_HEADER) });
  }
  protected abstract check(headers: HeaderSource, body: string | Uint8Array, options: VerifyOptions & { eventId: string | null }): WebhookEvent;
}

/** Order webhooks: `Ocrch-Signature`, keyed with `[merchant].secret`. */
export class OcrchWebhookFormat extends HeaderFormat {
  readonly headerName = OCRCH_HEADER;
  protected check(headers: HeaderSource, body: string | Uint8Array, options: VerifyOptions & { eventId: string | null }): WebhookEvent {
    return verifyOcrchWebhook(this.secret, header(headers, OCRCH_HEADER), body, options);
  }
}

/** Checkout Session events: `Stablecheckout-Signature`, keyed with the session webhook secret. */
export class SessionWebhookFormat extends HeaderFormat {
  readonly headerName = SESSION_HEADER;
  protected check(headers: HeaderSource, body: string | Uint8Array, options: VerifyOptions): WebhookEvent {
    return verifySessionWebhook(this.secret, header(headers, SESSION_HEADER), body, options);
  }
}
