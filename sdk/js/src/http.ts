/** One request over the global `fetch` (Node 18+, browsers) and how its answer is read. */

import { ApiError, InvalidResponseError, TransportError } from "./errors.js";

export const USER_AGENT = "stablecheckout-client-js/0.1.0";

export interface Call<T> {
  method: "GET" | "POST";
  path: string;
  parse: (data: unknown) => T;
  body?: string;
  headers?: Record<string, string>;
  /** Checkout Sessions answer errors as JSON; Ocrch routes as plain text. */
  jsonErrors?: boolean;
}

export interface HttpOptions {
  /** Milliseconds before a request is abandoned (default 30 000). */
  timeoutMs?: number;
  /** Another fetch (a proxy-aware one, a test double); default the global fetch. */
  fetch?: typeof fetch;
}

export async function send<T>(baseUrl: string, call: Call<T>, options: HttpOptions = {}): Promise<T> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const url = baseUrl.replace(/\/+$/, "") + call.path;
  let response: Response;
  try {
    response = await doFetch(url, {
      method: call.method,
      headers: call.headers ?? {},
      body: call.body ?? null,
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
  } catch (error) {
    throw new TransportError(`${call.method} ${call.path}: ${String(error)}`);
  }
  const text = await response.text();
  if (!response.ok) {
    throw call.jsonErrors ? ApiError.fromSessionResponse(response.status, text) : new ApiError(response.status, text);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new InvalidResponseError(`${call.method} ${call.path}: ${response.status} with a body that is not JSON`);
  }
  return call.parse(data);
}

export const orderPath = (orderId: string, tail: string): string =>
  `/api/v1/user/orders/${encodeURIComponent(orderId)}/${tail}`;
