/**
 * Wire types. Amounts stay decimal strings exactly as sent ("20.00" stays "20.00"): never turn
 * them into a JavaScript number, which cannot hold every amount. Unknown fields are kept (the
 * server only adds fields). Browser-safe.
 */

import { InvalidResponseError } from "./errors.js";

export type OrderStatus = "pending" | "paid" | "expired" | "cancelled";
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(["paid", "expired", "cancelled"]);

/** `OrderResponse`: Ocrch's five fields, then stablecheckout's additive ones. */
export interface Order {
  order_id: string;
  merchant_order_id: string;
  amount: string;
  status: OrderStatus | string;
  created_at: number;
  expires_at?: number;
  metadata?: Record<string, unknown> | null;
  success_url?: string | null;
  cancel_url?: string | null;
  /** While a payment is confirming: the transfer seen on chain. */
  transfer?: Record<string, unknown> | null;
  confirmations?: number | null;
  required_confirmations?: number | null;
  /** Everything linked to the order so far, in its units (docs/payments.md). */
  amount_received?: string;
  /** What is still to pay: "0" once paid. */
  amount_due?: string;
  /** `underpaid`, `overpaid`, `partial`, `late`, `duplicate`. */
  payment_exceptions?: string[];
  [extra: string]: unknown;
}

export interface ChainCoinPair {
  blockchain: string;
  stablecoin: string;
  wallet_address: string;
}

/** What the shopper must send: exactly `amount` of `stablecoin` on `blockchain`. */
export interface PaymentDetail {
  order_id: string;
  wallet_address: string;
  amount: string;
  blockchain: string;
  stablecoin: string;
  amount_base_units?: string;
  decimals?: number;
  token_contract?: string;
  chain_id?: number | null;
  expires_at?: number;
  payment_uri?: string;
  [extra: string]: unknown;
}

/** A hosted Checkout Session; amounts are integer US cents. */
export interface CheckoutSession {
  id: string;
  object: "checkout.session";
  url: string | null;
  mode: string;
  status: "open" | "complete" | "expired" | "canceled" | string;
  payment_status: "unpaid" | "paid" | string;
  amount_total: number | null;
  amount_min?: number | null;
  amount_max?: number | null;
  currency: string;
  line_items: Array<Record<string, unknown>>;
  success_url: string;
  cancel_url: string | null;
  customer_email: string | null;
  client_reference_id: string | null;
  metadata: Record<string, string>;
  order_id: string | null;
  livemode: boolean;
  created: number;
  expires_at: number;
  completed_at: number | null;
  /** What its order received, in the currency's minor units. */
  amount_received?: number | null;
  amount_due?: number | null;
  payment_exceptions?: string[];
  [extra: string]: unknown;
}

export interface SessionList {
  object: "list";
  data: CheckoutSession[];
  has_more: boolean;
}

/** Ocrch `order_status_changed`; deduplicate on `eventId` or (`order_id`, `status`). */
export interface OrderStatusChanged {
  event_type: "order_status_changed";
  order_id: string;
  merchant_order_id: string;
  status: OrderStatus | string;
  amount: string;
  timestamp: number;
  eventId: string | null;
  /** What the order received and still owes, and its flags (docs/payments.md): present when the
   * server sends them (every server with payment exceptions does). */
  amount_received?: string;
  amount_due?: string;
  payment_exceptions?: string[];
}

/**
 * `payment_exception`: a transfer to one of the order's deposits that was not simply its price
 * (`kind`: `partial`, `underpaid`, `overpaid`, `late`, `duplicate`); `amount` is the transfer's,
 * in coin units. Deduplicate on `eventId` or (`order_id`, `tx_hash`).
 */
export interface PaymentException {
  event_type: "payment_exception";
  order_id: string;
  merchant_order_id: string;
  kind: string;
  amount: string;
  blockchain: string;
  stablecoin: string;
  tx_hash: string;
  timestamp: number;
  eventId: string | null;
}

/**
 * `refund.sent`: refund item `refund_id` went out as `tx_hash` to `address`; `evidence` says who
 * saw it (`watcher` or `operator`). From a Checkout Session event, `checkout_session` names the
 * session, `timestamp` is the event's `created` and `eventId` its `id`.
 */
export interface RefundSent {
  event_type: "refund.sent";
  refund_id: number;
  order_id: string;
  merchant_order_id: string;
  kind: string;
  amount: string;
  blockchain: string;
  stablecoin: string;
  address: string | null;
  tx_hash: string | null;
  evidence: string | null;
  timestamp: number;
  checkout_session: string | null;
  eventId: string | null;
}

/** A transfer to a merchant wallet that paid no order (`blockchain` like `erc20:Ethereum`). */
export interface UnknownTransferReceived {
  event_type: "unknown_transfer_received";
  transfer_id: number;
  blockchain: string;
  timestamp: number;
  eventId: string | null;
}

/** A `checkout.session.*` event wrapping the session as it was when the event happened. */
export interface SessionEvent {
  event_type: "checkout.session";
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  session: CheckoutSession;
}

/** A correctly signed body of an event type this SDK version does not know yet. */
export interface UnrecognizedEvent {
  event_type: "unrecognized";
  type: string;
  payload: Record<string, unknown>;
  eventId: string | null;
}

// The dialects' webhooks (docs/compatibility.md), each in its system's own shape.

/** The OpenCheckout dialect's session: seed 004's status words, ISO 8601 UTC times, cents. */
export interface OpenCheckoutSession {
  id: string;
  url: string | null;
  mode: string;
  status: "open" | "completed" | "expired" | "canceled" | string;
  payment_status: string;
  amount_total: number | null;
  currency: string;
  line_items: Array<Record<string, unknown>>;
  metadata: Record<string, unknown>;
  customer_email: string | null;
  success_url: string;
  cancel_url: string | null;
  livemode: boolean;
  created_at: string;
  expires_at: string;
  completed_at: string | null;
  [extra: string]: unknown;
}

/** An OpenCheckout webhook: `status` and `metadata` on top, the session under `session`. */
export interface OpenCheckoutEvent {
  event_type: "opencheckout";
  id: string;
  type: string;
  status: string;
  metadata: Record<string, unknown>;
  session_id: string;
  created_at: string;
  session: OpenCheckoutSession;
  eventId: string | null;
}

/** The OVGC dialect's session (seed 001): `amount` in minor units, `YYYY-MM-DD HH:MM:SS` UTC. */
export interface OvgcSession {
  id: string;
  amount: number | null;
  currency: string;
  status: "pending" | "completed" | "expired" | "declined" | string;
  email: string | null;
  product_title: string | null;
  metadata: Record<string, unknown>;
  success_url: string | null;
  cancel_url: string | null;
  created_at: string;
  expires_at: string;
  [extra: string]: unknown;
}

/** An OVGC webhook: `payment.succeeded` (paid) or `payment.declined` (the shopper cancelled). */
export interface OvgcEvent {
  event_type: "ovgc";
  id: string;
  type: string;
  created_at: string;
  data: OvgcSession;
  eventId: string | null;
}

/**
 * Seed 002's callback for an Ocrch order (`[webhooks].format = "seed002"`): `type` is
 * `payment-authorized` when paid, `amount` an integer in the order's smallest unit, `sessionId`
 * the server's order id.
 */
export interface Seed002Event {
  event_type: "seed002";
  type: string;
  amount: number;
  paymentId: string;
  sessionId: string;
  merchantOrderId: string | null;
  eventId: string | null;
}

/**
 * An Epusdt notify callback (paid orders only, `status` 2): `amount` the fiat price as signed,
 * `actual_amount` what was paid in the coin, `token` the receiving address.
 */
export interface EpusdtNotify {
  event_type: "epusdt";
  trade_id: string;
  order_id: string;
  amount: string;
  actual_amount: string;
  token: string;
  block_transaction_id: string;
  status: number;
  eventId: string | null;
}

/** An Epay notify callback (a GET, paid orders only): `money` as submitted, `type` as submitted. */
export interface EpayNotify {
  event_type: "epay";
  pid: string;
  trade_no: string;
  out_trade_no: string;
  type: string;
  name: string;
  money: string;
  trade_status: "TRADE_SUCCESS" | string;
  param: string | null;
  eventId: string | null;
}

export type WebhookEvent =
  | OrderStatusChanged
  | UnknownTransferReceived
  | PaymentException
  | RefundSent
  | SessionEvent
  | OpenCheckoutEvent
  | OvgcEvent
  | Seed002Event
  | EpusdtNotify
  | EpayNotify
  | UnrecognizedEvent;

type Kind = "string" | "number" | "boolean" | "object";

export function requireFields<T>(data: unknown, what: string, fields: Record<string, Kind>): T {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new InvalidResponseError(`${what}: expected a JSON object`);
  }
  const record = data as Record<string, unknown>;
  for (const [key, kind] of Object.entries(fields)) {
    const value = record[key];
    const ok = kind === "number" ? Number.isInteger(value) : typeof value === kind && value !== null;
    if (!ok) throw new InvalidResponseError(`${what}: field '${key}' is missing or not a ${kind}`);
  }
  return data as T;
}

export const parseOrder = (data: unknown): Order =>
  requireFields<Order>(data, "order", {
    order_id: "string",
    merchant_order_id: "string",
    amount: "string",
    status: "string",
    created_at: "number",
  });

export const parsePaymentDetail = (data: unknown): PaymentDetail =>
  requireFields<PaymentDetail>(data, "payment detail", {
    order_id: "string",
    wallet_address: "string",
    amount: "string",
    blockchain: "string",
    stablecoin: "string",
  });

export function parseChains(data: unknown): ChainCoinPair[] {
  if (!Array.isArray(data)) throw new InvalidResponseError("chains: expected a JSON array");
  return data.map((item) =>
    requireFields<ChainCoinPair>(item, "chain", {
      blockchain: "string",
      stablecoin: "string",
      wallet_address: "string",
    }),
  );
}

export const parseSession = (data: unknown): CheckoutSession =>
  requireFields<CheckoutSession>(data, "checkout session", {
    id: "string",
    mode: "string",
    status: "string",
    payment_status: "string",
    currency: "string",
    success_url: "string",
    livemode: "boolean",
    created: "number",
    expires_at: "number",
  });

export function parseSessionList(data: unknown): SessionList {
  const list = requireFields<SessionList>(data, "session list", { object: "string" });
  if (!Array.isArray(list.data)) throw new InvalidResponseError("session list: 'data' is not an array");
  return { object: "list", data: list.data.map(parseSession), has_more: Boolean(list.has_more) };
}

export const parseOpenCheckoutSession = (data: unknown): OpenCheckoutSession =>
  requireFields<OpenCheckoutSession>(data, "opencheckout session", {
    id: "string",
    mode: "string",
    status: "string",
    payment_status: "string",
    currency: "string",
    success_url: "string",
    created_at: "string",
    expires_at: "string",
  });

export const parseOvgcSession = (data: unknown): OvgcSession =>
  requireFields<OvgcSession>(data, "ovgc session", {
    id: "string",
    currency: "string",
    status: "string",
    created_at: "string",
    expires_at: "string",
  });
