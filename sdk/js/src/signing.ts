/**
 * The HMAC-SHA256 schemes the server speaks (Node only: it holds the secret).
 *
 * - `Ocrch-Signature: {ts}.{sig}` over `ts + "." + body` (Service API requests, order webhooks) and
 *   over `url + "." + ts` (checkout URLs). `sig` is standard base64 without `=` padding: the
 *   server refuses padding, so this module never sends it; verification also accepts it.
 * - `Stablecheckout-Signature: t={ts},v1={hex}` over `ts + "." + body` (Checkout Session
 *   webhooks), keyed with the session webhook secret, which need not be the merchant secret;
 *   `OpenCheckout-Signature` is the same scheme with the OpenCheckout dialect's secret.
 * - OVGC: `X-Webhook-Timestamp: {ts}` and `X-Webhook-Signature: sha256={hex}` over `ts + "." + body`.
 * - Seed 002: `Authorization: HMAC-SHA256 Signature={hex}` over the body alone (no timestamp).
 *
 * Comparisons are constant-time; freshness is checked only after the HMAC matched.
 */

import { createHmac, timingSafeEqual } from "node:crypto";

export const TOLERANCE_SECONDS = 300;

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const mac = (secret: string, ...parts: Array<string | Uint8Array>): Buffer => {
  const h = createHmac("sha256", Buffer.from(secret, "utf8"));
  for (const part of parts) h.update(part);
  return h.digest();
};
const b64NoPad = (raw: Buffer): string => raw.toString("base64").replace(/=+$/, "");
const asBytes = (body: string | Uint8Array): Uint8Array =>
  typeof body === "string" ? Buffer.from(body, "utf8") : body;

/** `Ocrch-Signature` for a Service API request: sign the exact bytes you send. */
export function signBody(secret: string, body: string | Uint8Array, ts: number = nowSeconds()): string {
  return `${ts}.${b64NoPad(mac(secret, `${ts}.`, asBytes(body)))}`;
}

/** `Ocrch-Signature` for a checkout URL (URL first, then the timestamp). */
export function signUrl(secret: string, url: string, ts: number = nowSeconds()): string {
  return `${ts}.${b64NoPad(mac(secret, `${url}.${ts}`))}`;
}

/** The URL `checkoutLink` signs: the page with `order_id` (and `lang`) as its query. */
export function signedPageUrl(orderId: string, page: string, lang?: string): string {
  const url = `${page}${page.includes("?") ? "&" : "?"}order_id=${orderId}`;
  return lang ? `${url}&lang=${encodeURIComponent(lang)}` : url;
}

/**
 * Where to send the shopper: the signed page URL plus `&sig=…`. `page` is the page's address
 * without query (the hosted page is `<server>/checkout/`, trailing slash included).
 */
export function checkoutLink(
  secret: string,
  orderId: string,
  page: string,
  options: { ts?: number; lang?: string } = {},
): string {
  const signed = signedPageUrl(orderId, page, options.lang);
  return `${signed}&sig=${encodeURIComponent(signUrl(secret, signed, options.ts))}`;
}

/** `{ts}.{sig}` split at the first dot; throws on anything else. */
export function parseOcrchHeader(header: string): { ts: number; raw: Buffer } {
  const dot = header.indexOf(".");
  const tsText = dot < 0 ? "" : header.slice(0, dot);
  const sig = dot < 0 ? "" : header.slice(dot + 1);
  if (!/^-?[0-9]{1,15}$/.test(tsText)) throw new Error("not `{ts}.{signature}`");
  const stripped = sig.replace(/=$/, "");
  if (!/^[A-Za-z0-9+/]{43}$/.test(stripped)) {
    throw new Error("the signature is not 32 bytes of standard base64");
  }
  return { ts: Number(tsText), raw: Buffer.from(stripped, "base64") };
}

export interface VerifyOptions {
  toleranceSeconds?: number;
  /** Unix seconds to check freshness against (tests); default the clock. */
  now?: number;
}

function checkFresh(ts: number, options: VerifyOptions): void {
  if (Math.abs((options.now ?? nowSeconds()) - ts) > (options.toleranceSeconds ?? TOLERANCE_SECONDS)) {
    throw new Error("signature timestamp outside the tolerance");
  }
}

function checkOcrch(secret: string, header: string, message: (ts: number) => string | Uint8Array, options: VerifyOptions): number {
  const { ts, raw } = parseOcrchHeader(header.trim());
  if (!timingSafeEqual(raw, mac(secret, message(ts)))) throw new Error("signature mismatch");
  checkFresh(ts, options);
  return ts;
}

/** Check an `Ocrch-Signature` over `body`; returns its timestamp, throws otherwise. */
export function verifyBodySignature(
  secret: string,
  header: string | null | undefined,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): number {
  if (!header) throw new Error("missing Ocrch-Signature header");
  return checkOcrch(secret, header, (ts) => Buffer.concat([Buffer.from(`${ts}.`), asBytes(body)]), options);
}

/** Check a checkout-URL signature, as the server does for the User API; returns `ts`. */
export function verifyUrlSignature(secret: string, url: string, header: string, options: VerifyOptions = {}): number {
  return checkOcrch(secret, header, (ts) => `${url}.${ts}`, options);
}

const hexHmac = (secret: string, ...parts: Array<string | Uint8Array>): string => mac(secret, ...parts).toString("hex");

function sameHex(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given.trim().toLowerCase());
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A `t={ts},v1={hex}` value over `ts + "." + body`: `Stablecheckout-Signature` (session events)
 * and `OpenCheckout-Signature` (the OpenCheckout dialect) are this one scheme.
 */
export function signTV1(secret: string, body: string | Uint8Array, ts: number = nowSeconds()): string {
  return `t=${ts},v1=${hexHmac(secret, `${ts}.`, asBytes(body))}`;
}

/** Check `t=…,v1=…` (any `v1` may match: secret rotation); `name` is the header's, for the message. */
export function verifyTV1(
  secret: string,
  header: string | null | undefined,
  body: string | Uint8Array,
  options: VerifyOptions & { name?: string } = {},
): number {
  if (!header) throw new Error(`missing ${options.name ?? "Stablecheckout-Signature"} header`);
  let timestamp: string | null = null;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const item = part.trim();
    const eq = item.indexOf("=");
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? "" : item.slice(eq + 1);
    if (key === "t" && /^[0-9]{1,15}$/.test(value)) timestamp = value;
    else if (key === "v1") candidates.push(value);
  }
  if (timestamp === null || candidates.length === 0) throw new Error("not `t=<unix seconds>,v1=<hex>`");
  const expected = hexHmac(secret, `${timestamp}.`, asBytes(body));
  if (!candidates.some((c) => sameHex(expected, c))) throw new Error("signature mismatch");
  const ts = Number(timestamp);
  checkFresh(ts, options);
  return ts;
}

/** A `Stablecheckout-Signature` value, as the server makes one (tests, relays). */
export const signSessionWebhook = signTV1;

/** Check `Stablecheckout-Signature: t=…,v1=…` (any `v1` may match: secret rotation). */
export function verifySessionSignature(
  secret: string,
  header: string | null | undefined,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): number {
  return verifyTV1(secret, header, body, options);
}

/** OVGC's headers: `X-Webhook-Timestamp` and `X-Webhook-Signature: sha256=<hex>` over `"<ts>.<body>"`. */
export function signOvgc(secret: string, body: string | Uint8Array, ts: number = nowSeconds()): Record<string, string> {
  return {
    "X-Webhook-Timestamp": String(ts),
    "X-Webhook-Signature": `sha256=${hexHmac(secret, `${ts}.`, asBytes(body))}`,
  };
}

/** Check OVGC's `X-Webhook-Timestamp` and `X-Webhook-Signature`; returns the timestamp. */
export function verifyOvgc(
  secret: string,
  timestamp: string | null | undefined,
  signature: string | null | undefined,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): number {
  if (!signature) throw new Error("missing X-Webhook-Signature header");
  if (!timestamp) throw new Error("missing X-Webhook-Timestamp header");
  const stamp = timestamp.trim();
  const given = signature.trim();
  if (!/^sha256=/i.test(given) || given.length === 7) throw new Error("X-Webhook-Signature is not `sha256=<hex>`");
  if (!/^[0-9]{1,15}$/.test(stamp)) throw new Error("X-Webhook-Timestamp is not unix seconds");
  if (!sameHex(hexHmac(secret, `${stamp}.`, asBytes(body)), given.slice(7))) throw new Error("signature mismatch");
  const ts = Number(stamp);
  checkFresh(ts, options);
  return ts;
}

export const SEED002_SCHEME = "HMAC-SHA256";

/** Seed 002's `Authorization` value over the (whitespace-free) body. */
export function signSeed002(secret: string, body: string | Uint8Array): string {
  return `${SEED002_SCHEME} Signature=${hexHmac(secret, asBytes(body))}`;
}

/**
 * Check `Authorization: HMAC-SHA256 Signature=<hex>` over the raw body, exactly as sent. Seed 002
 * has no timestamp: nothing bounds a replay, so credit each payment once.
 */
export function verifySeed002(secret: string, authorization: string | null | undefined, body: string | Uint8Array): void {
  if (!authorization) throw new Error("missing Authorization header");
  const match = /^HMAC-SHA256 +Signature=(\S+)$/.exec(authorization.trim());
  if (!match?.[1]) throw new Error("Authorization is not `HMAC-SHA256 Signature=<hex>`");
  if (!sameHex(hexHmac(secret, asBytes(body)), match[1])) throw new Error("signature mismatch");
}
