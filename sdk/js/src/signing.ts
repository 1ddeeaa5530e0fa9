/**
 * The HMAC-SHA256 schemes the server speaks (Node only: it holds the secret).
 *
 * - `Ocrch-Signature: {ts}.{sig}` over `ts + "." + body` (Service API requests, order webhooks) and
 *   over `url + "." + ts` (checkout URLs). `sig` is standard base64 without `=` padding: the
 *   server refuses padding, so this module never sends it; verification also accepts it.
 * - `Stablecheckout-Signature: t={ts},v1={hex}` over `ts + "." + body` (Checkout Session
 *   webhooks), keyed with the session webhook secret, which need not be the merchant secret.
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

/** Check an `Ocrch-Signature` over `body`; returns its timestamp, throws otherwise. */
export function verifyBodySignature(
  secret: string,
  header: string | null | undefined,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): number {
  if (!header) throw new Error("missing Ocrch-Signature header");
  const { ts, raw } = parseOcrchHeader(header.trim());
  if (!timingSafeEqual(raw, mac(secret, `${ts}.`, asBytes(body)))) throw new Error("signature mismatch");
  checkFresh(ts, options);
  return ts;
}

/** Check a checkout-URL signature, as the server does for the User API; returns `ts`. */
export function verifyUrlSignature(secret: string, url: string, header: string, options: VerifyOptions = {}): number {
  const { ts, raw } = parseOcrchHeader(header.trim());
  if (!timingSafeEqual(raw, mac(secret, `${url}.${ts}`))) throw new Error("signature mismatch");
  checkFresh(ts, options);
  return ts;
}

/** A `Stablecheckout-Signature` value, as the server makes one (tests, relays). */
export function signSessionWebhook(secret: string, body: string | Uint8Array, ts: number = nowSeconds()): string {
  return `t=${ts},v1=${mac(secret, `${ts}.`, asBytes(body)).toString("hex")}`;
}

/** Check `Stablecheckout-Signature: t=…,v1=…` (any `v1` may match: secret rotation). */
export function verifySessionSignature(
  secret: string,
  header: string | null | undefined,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): number {
  if (!header) throw new Error("missing Stablecheckout-Signature header");
  let timestamp: string | null = null;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const item = part.trim();
    const eq = item.indexOf("=");
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? "" : item.slice(eq + 1);
    if (key === "t" && /^[0-9]{1,15}$/.test(value)) timestamp = value;
    else if (key === "v1") candidates.push(value.toLowerCase());
  }
  if (timestamp === null || candidates.length === 0) throw new Error("not `t=<unix seconds>,v1=<hex>`");
  const expected = Buffer.from(mac(secret, `${timestamp}.`, asBytes(body)).toString("hex"));
  const matches = candidates.some((c) => {
    const got = Buffer.from(c);
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
  if (!matches) throw new Error("signature mismatch");
  const ts = Number(timestamp);
  checkFresh(ts, options);
  return ts;
}
