/**
 * Verifying what the server POSTs to you, before trusting a byte of it (Node only): the formats
 * of our own APIs, and what every format shares (`WebhookFormat`, a case-insensitive header lookup).
 *
 * Ocrch order webhooks and our additive ones in that format (`payment_exception`, `refund.sent`),
 * signed with `Ocrch-Signature` and the merchant secret; Checkout Session events
 * (`checkout.session.*`, `refund.sent`), `Stablecheckout-Signature` with the session webhook
 * secret `whsec_…`. The dialects' formats are
 * in `dialects.ts` (OpenCheckout, OVGC, seed 002) and `md5.ts` (Epusdt, Epay); `verifier.ts`
 * serves several formats on one endpoint.
 */

import { InvalidResponseError, WebhookVerificationError } from "./errors.js";
import {
  type OrderStatusChanged,
  type PaymentException,
  type RefundSent,
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

const text = (value: unknown): string | null => (typeof value === "string" ? value : null);
const texts = (value: unknown[]): string[] => value.filter((v): v is string => typeof v === "string");

/** Verify an `Ocrch-Signature` webhook over the raw `body` and parse its event. */
export function verifyOcrchWebhook(
  secret: string,
  signature: string | null | undefined,
  body: string | Uint8Array,
  options: VerifyOptions & { eventId?: string | null } = {},
): OrderStatusChanged | UnknownTransferReceived | PaymentException | RefundSent | UnrecognizedEvent {
  guarded(() => verifyBodySignature(secret, signature, body, options));
  const data = jsonObject(body);
  const eventId = options.eventId ?? null;
  if (data.event_type === "order_status_changed") {
    const fields = { order_id: "string", merchant_order_id: "string", status: "string", amount: "string", timestamp: "number" } as const;
    const d = guarded(() => requireFields<OrderStatusChanged>(data, "webhook", fields));
    const { order_id, merchant_order_id, status, amount, timestamp } = d;
    const receipt: Partial<OrderStatusChanged> = {};
    if (typeof data.amount_received === "string") receipt.amount_received = data.amount_received;
    if (typeof data.amount_due === "string") receipt.amount_due = data.amount_due;
    if (Array.isArray(data.payment_exceptions)) receipt.payment_exceptions = texts(data.payment_exceptions);
    return { event_type: "order_status_changed", order_id, merchant_order_id, status, amount, timestamp, eventId, ...receipt };
  }
  if (data.event_type === "unknown_transfer_received") {
    const fields = { transfer_id: "number", blockchain: "string", timestamp: "number" } as const;
    const d = guarded(() => requireFields<UnknownTransferReceived>(data, "webhook", fields));
    return { event_type: "unknown_transfer_received", transfer_id: d.transfer_id, blockchain: d.blockchain, timestamp: d.timestamp, eventId };
  }
  if (data.event_type === "payment_exception") {
    const fields = { order_id: "string", merchant_order_id: "string", kind: "string", amount: "string", blockchain: "string", stablecoin: "string", tx_hash: "string", timestamp: "number" } as const;
    const d = guarded(() => requireFields<PaymentException>(data, "webhook", fields));
    const { order_id, merchant_order_id, kind, amount, blockchain, stablecoin, tx_hash, timestamp } = d;
    return { event_type: "payment_exception", order_id, merchant_order_id, kind, amount, blockchain, stablecoin, tx_hash, timestamp, eventId };
  }
  if (data.event_type === "refund.sent") {
    const d = guarded(() => requireFields<{ timestamp: number }>(data, "webhook", { timestamp: "number" }));
    return refundSent(data, d.timestamp, null, eventId);
  }
  return { event_type: "unrecognized", type: String(data.event_type), payload: data, eventId };
}

/** A `refund.sent` from its refund fields (an Ocrch body, or a session event's object). */
function refundSent(data: unknown, timestamp: number, checkoutSession: string | null, eventId: string | null): RefundSent {
  const fields = { refund_id: "number", order_id: "string", merchant_order_id: "string", kind: "string", amount: "string", blockchain: "string", stablecoin: "string" } as const;
  const d = guarded(() => requireFields<RefundSent>(data, "webhook", fields));
  const { refund_id, order_id, merchant_order_id, kind, amount, blockchain, stablecoin } = d;
  const rest = { address: text(d.address), tx_hash: text(d.tx_hash), evidence: text(d.evidence) };
  return { event_type: "refund.sent", refund_id, order_id, merchant_order_id, kind, amount, blockchain, stablecoin, ...rest, timestamp, checkout_session: checkoutSession, eventId };
}

/** Verify a `Stablecheckout-Signature` event with the session webhook secret and parse it. */
export function verifySessionWebhook(
  secret: string,
  signature: string | null | undefined,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): SessionEvent | RefundSent | UnrecognizedEvent {
  guarded(() => verifySessionSignature(secret, signature, body, options));
  const data = jsonObject(body);
  const type = data.type;
  const id = typeof data.id === "string" ? data.id : null;
  const object = (data.data as { object?: unknown } | undefined)?.object;
  if (type === "refund.sent" && typeof object === "object" && object !== null) {
    const d = guarded(() => requireFields<{ id: string; created: number }>(data, "event", { id: "string", created: "number" }));
    return refundSent(object, d.created, text((object as Record<string, unknown>).checkout_session), d.id);
  }
  if (typeof type !== "string" || !type.startsWith("checkout.session.")) {
    return { event_type: "unrecognized", type: String(type), payload: data, eventId: id };
  }
  const d = guarded(() => requireFields<{ id: string; created: number }>(data, "event", { id: "string", created: "number" }));
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
