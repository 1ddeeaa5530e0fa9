/** The merchant backend's clients (Node): signed Service API calls and Checkout Sessions. */

import { type Call, type HttpOptions, USER_AGENT, send } from "./http.js";
import {
  type CheckoutSession,
  type Order,
  type SessionList,
  type WebhookEvent,
  parseOrder,
  parseSession,
  parseSessionList,
} from "./models.js";
import { type VerifyOptions, checkoutLink, signBody, signUrl } from "./signing.js";
import { Seed002WebhookFormat } from "./dialects.js";
import { WebhookVerifier } from "./verifier.js";
import { type HeaderSource, OcrchWebhookFormat } from "./webhooks.js";
import { UserClient, type UserClientOptions } from "./user.js";

export interface CreateOrder {
  /** Your reference (`merchant_order_id`); not unique, use `idempotencyKey` for safe retries. */
  orderId: string;
  /** A decimal string in coin units ("19.99"); a bigint is whole coins. Never a JS number. */
  amount: string | bigint;
  webhookUrl: string;
  blockchain?: string | null;
  stablecoin?: string | null;
  expectingWalletAddress?: string | null;
  expiresIn?: number;
  metadata?: Record<string, unknown>;
  successUrl?: string;
  cancelUrl?: string;
  idempotencyKey?: string;
}

const AMOUNT = /^[0-9]+(\.[0-9]+)?$/;

function wireAmount(amount: string | bigint): string {
  if (typeof amount === "bigint") return amount.toString();
  if (typeof amount !== "string") {
    throw new TypeError("amount must be a decimal string (or a bigint), never a number: floats lose cents");
  }
  if (!AMOUNT.test(amount.replace(/^-/, ""))) throw new TypeError(`amount '${amount}' is not a plain decimal number`);
  return amount;
}

/** Signed Service API calls and checkout links. `secret` is `[merchant].secret`: keep it server-side. */
export class Client {
  readonly baseUrl: string;
  private readonly secret: string;
  private readonly options: HttpOptions;

  constructor(baseUrl: string, secret: string, options: HttpOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.secret = secret;
    this.options = options;
  }

  private post(path: string, body: Record<string, unknown>, extra: Record<string, string> = {}): Promise<Order> {
    const raw = JSON.stringify(body);
    const call: Call<Order> = {
      method: "POST",
      path: `/api/v1/service${path}`,
      parse: parseOrder,
      body: raw,
      headers: {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Ocrch-Signature": signBody(this.secret, raw),
        ...extra,
      },
    };
    return send(this.baseUrl, call, this.options);
  }

  /** `POST /api/v1/service/orders` (201). */
  async createOrder(order: CreateOrder): Promise<Order> {
    const body: Record<string, unknown> = {
      amount: wireAmount(order.amount),
      expecting_wallet_address: order.expectingWalletAddress ?? null,
      order_id: order.orderId,
      blockchain: order.blockchain ?? null,
      stablecoin: order.stablecoin ?? null,
      webhook_url: order.webhookUrl,
    };
    const extra = {
      expires_in: order.expiresIn,
      metadata: order.metadata,
      success_url: order.successUrl,
      cancel_url: order.cancelUrl,
    };
    for (const [key, value] of Object.entries(extra)) if (value !== undefined) body[key] = value;
    const headers: Record<string, string> = order.idempotencyKey ? { "Idempotency-Key": order.idempotencyKey } : {};
    return this.post("/orders", body, headers);
  }

  /** `POST /api/v1/service/orders/status` for the server's order id (a UUID). */
  getOrder(orderId: string): Promise<Order> {
    return this.post("/orders/status", { order_id: orderId });
  }

  /**
   * Where to send the shopper: the hosted page `<server>/checkout/` unless `page` is given (your
   * own page, whose origin must be in `[merchant].allowed_origins`).
   */
  checkoutLink(orderId: string, options: { page?: string; lang?: string } = {}): string {
    return checkoutLink(this.secret, orderId, options.page ?? `${this.baseUrl}/checkout/`, { lang: options.lang });
  }

  /**
   * Verify an order webhook signed with this client's secret over the raw body: Ocrch's
   * `Ocrch-Signature`, or seed 002's `Authorization` when the server sends that format
   * (`[webhooks].format = "seed002"`); throws `WebhookVerificationError`. Session and dialect
   * events have secrets of their own: `WebhookVerifier.forSecrets`.
   */
  verifyWebhook(headers: HeaderSource, body: string | Uint8Array, options: VerifyOptions = {}): WebhookEvent {
    const verifier = new WebhookVerifier(new OcrchWebhookFormat(this.secret), new Seed002WebhookFormat(this.secret));
    return verifier.verify(headers, body, options);
  }

  /** A User API client for `signedUrl` that re-signs every call (it never expires). */
  user(signedUrl: string, options: UserClientOptions = {}): UserClient {
    return new UserClient(this.baseUrl, signedUrl, () => signUrl(this.secret, signedUrl), { ...this.options, ...options });
  }
}

/** Checkout Sessions with an API key (`sk_live_…` or `sk_test_…`). */
export class SessionsClient {
  readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly options: HttpOptions;

  constructor(baseUrl: string, apiKey: string, options: HttpOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.options = options;
  }

  private call<T>(method: "GET" | "POST", path: string, parse: (d: unknown) => T, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.apiKey}`, "User-Agent": USER_AGENT, ...extra };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const call: Call<T> = { method, path: `/api/v1/checkout/sessions${path}`, parse, headers, jsonErrors: true };
    if (body !== undefined) call.body = JSON.stringify(body);
    return send(this.baseUrl, call, this.options);
  }

  /** Create a session (201); `body` as documented in docs/checkout-sessions.md. */
  create(body: Record<string, unknown>, options: { idempotencyKey?: string } = {}): Promise<CheckoutSession> {
    const extra: Record<string, string> = options.idempotencyKey ? { "Idempotency-Key": options.idempotencyKey } : {};
    return this.call("POST", "", parseSession, body, extra);
  }

  retrieve(sessionId: string): Promise<CheckoutSession> {
    return this.call("GET", `/${encodeURIComponent(sessionId)}`, parseSession);
  }

  list(options: { limit?: number; startingAfter?: string } = {}): Promise<SessionList> {
    const query = new URLSearchParams({ limit: String(options.limit ?? 10) });
    if (options.startingAfter) query.set("starting_after", options.startingAfter);
    return this.call("GET", `?${query}`, parseSessionList);
  }

  expire(sessionId: string): Promise<CheckoutSession> {
    return this.call("POST", `/${encodeURIComponent(sessionId)}/expire`, parseSession);
  }
}
