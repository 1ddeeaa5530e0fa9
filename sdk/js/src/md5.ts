/**
 * Epusdt and Epay notify callbacks: the MD5 signatures those shop plugins speak (shared/epusdt.md
 * §1.2, §2.2), verified and typed (Node only).
 *
 * The server sends them only for orders made through its Epusdt or Epay dialect, only once paid,
 * to the `notify_url` of the order: Epusdt POSTs JSON with a `signature` member, Epay GETs
 * `notify_url?…&sign=…&sign_type=MD5`. MD5 over the parameters with the token appended is weaker
 * than the HMAC-SHA256 of the other formats: no timestamp, no nonce, so a captured callback can be
 * replayed; credit each order once. Comparisons are constant-time. Answer HTTP 200 with
 * `EPUSDT_ACK` / `EPAY_ACK`; any other answer is retried.
 */

import { createHash, timingSafeEqual } from "node:crypto";

import { WebhookVerificationError } from "./errors.js";
import { type EpayNotify, type EpusdtNotify, requireFields } from "./models.js";
import { guarded, jsonObject } from "./webhooks.js";

/** The body that tells the server an Epusdt callback landed (with HTTP 200). */
export const EPUSDT_ACK = "ok";
/** The body that tells the server an Epay callback landed (with HTTP 200). */
export const EPAY_ACK = "success";

/**
 * A JSON number as Epusdt signs it: the shortest round-trip decimal, without exponent or trailing
 * `.0` (`72.0` → `72`, `1e-5` → `0.00001`). Integers beyond 2^53 are not exact in JavaScript.
 */
export function renderNumber(value: number): string {
  if (!Number.isFinite(value)) throw new Error("a number that is not finite cannot be signed");
  const text = String(value);
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!match) return text;
  const [, sign = "", lead = "", fraction = "", exponent = "0"] = match;
  const digits = lead + fraction;
  const point = 1 + Number(exponent);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + "0".repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function render(key: string, value: unknown): string | null {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return renderNumber(value);
  if (typeof value === "string") return value;
  throw new Error(`member '${key}' is an array or object, which Epusdt cannot sign`);
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
const md5 = (text: string): string => createHash("md5").update(text, "utf8").digest("hex");

function same(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given.trim().toLowerCase());
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `k=v&…` over the members except `signature`, sorted by key (byte order), `null` and `""` left out. */
export function epusdtPreimage(params: Record<string, unknown>): string {
  const pairs: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(params)) {
    const text = key === "signature" ? null : render(key, value);
    if (text !== null) pairs.push([key, `${key}=${text}`]);
  }
  return pairs.sort((a, b) => byteOrder(a[0], b[0])).map(([, item]) => item).join("&");
}

/** The `signature` of an Epusdt request or callback (`[epusdt].token`). */
export function epusdtSign(params: Record<string, unknown>, token: string): string {
  return md5(epusdtPreimage(params) + token);
}

type Pairs = Iterable<[string, string]>;

/** Every parameter except `sign`, `sign_type` and empty ones, sorted, as decoded values. */
export function epayPreimage(params: Pairs): string {
  const kept = [...params].filter(([k, v]) => k !== "sign" && k !== "sign_type" && v !== "");
  kept.sort((a, b) => byteOrder(a[0], b[0]) || byteOrder(a[1], b[1]));
  return kept.map(([k, v]) => `${k}=${v}`).join("&");
}

/** The `sign` of an Epay request or callback (`[epay].key`). */
export function epaySign(params: Record<string, string> | Pairs, key: string): string {
  const pairs = Symbol.iterator in params ? (params as Pairs) : Object.entries(params as Record<string, string>);
  return md5(epayPreimage(pairs) + key);
}

/** Verify an Epusdt callback (the raw JSON body) with `[epusdt].token` and parse it. */
export function verifyEpusdtNotify(token: string, body: string | Uint8Array, options: { eventId?: string | null } = {}): EpusdtNotify {
  const d = jsonObject(body);
  if (typeof d.signature !== "string" || !d.signature) throw new WebhookVerificationError("missing signature member");
  const expected = guarded(() => epusdtSign(d, token));
  if (!same(expected, d.signature)) throw new WebhookVerificationError("signature mismatch");
  const fields = { trade_id: "string", order_id: "string", token: "string", block_transaction_id: "string", status: "number" } as const;
  const n = guarded(() => requireFields<Omit<EpusdtNotify, "event_type" | "eventId" | "amount" | "actual_amount">>(d, "webhook", fields));
  const amount = (key: string): string => {
    const value = d[key];
    if (typeof value === "string") return value;
    if (typeof value === "number") return renderNumber(value);
    throw new WebhookVerificationError(`webhook: field '${key}' is missing or not a number`);
  };
  return {
    event_type: "epusdt",
    trade_id: n.trade_id,
    order_id: n.order_id,
    amount: amount("amount"),
    actual_amount: amount("actual_amount"),
    token: n.token,
    block_transaction_id: n.block_transaction_id,
    status: n.status,
    eventId: options.eventId ?? null,
  };
}

/** An Epay callback's query: the URL (full, or path and query as `req.url`), the query string, or its parameters. */
export type EpayQuery = string | URLSearchParams | Record<string, string | string[] | undefined>;

function queryPairs(query: EpayQuery): Array<[string, string]> {
  if (typeof query === "string") {
    const at = query.indexOf("?");
    return [...new URLSearchParams(at < 0 ? query : query.slice(at + 1))];
  }
  if (query instanceof URLSearchParams) return [...query];
  const pairs: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item !== "string") throw new WebhookVerificationError(`parameter '${key}' is not text`);
      pairs.push([key, item]);
    }
  }
  return pairs;
}

/**
 * Verify an Epay callback with `[epay].key` and parse it; with `pid`, a callback for another
 * merchant id is refused too. Pass the raw `req.url` rather than a parsed query where you can.
 */
export function verifyEpayNotify(key: string, query: EpayQuery, options: { pid?: string; eventId?: string | null } = {}): EpayNotify {
  const pairs = queryPairs(query);
  const params = new Map(pairs);
  if (params.size !== pairs.length) throw new WebhookVerificationError("a parameter is given twice");
  const given = params.get("sign") ?? "";
  if (!given) throw new WebhookVerificationError("missing sign parameter");
  if ((params.get("sign_type") ?? "MD5").toUpperCase() !== "MD5") throw new WebhookVerificationError("sign_type is not MD5");
  if (!same(epaySign(pairs, key), given)) throw new WebhookVerificationError("signature mismatch");
  if (options.pid !== undefined && params.get("pid") !== options.pid) {
    throw new WebhookVerificationError("the callback is for another pid");
  }
  const p = Object.fromEntries(params);
  const fields = { pid: "string", trade_no: "string", out_trade_no: "string", money: "string", trade_status: "string" } as const;
  const n = guarded(() => requireFields<Record<keyof typeof fields, string>>(p, "webhook", fields));
  return {
    event_type: "epay",
    pid: n.pid,
    trade_no: n.trade_no,
    out_trade_no: n.out_trade_no,
    type: p.type ?? "",
    name: p.name ?? "",
    money: n.money,
    trade_status: n.trade_status,
    param: p.param || null,
    eventId: options.eventId ?? null,
  };
}
