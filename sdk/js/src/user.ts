/**
 * The User API as a custom checkout page calls it, with the URL the merchant's backend signed.
 * Browser-safe: no secret, no Node module; `fetch` and (when present) `WebSocket` are globals.
 */

import { ApiError } from "./errors.js";
import { type Call, type HttpOptions, orderPath, send } from "./http.js";
import {
  type ChainCoinPair,
  type Order,
  type PaymentDetail,
  TERMINAL_STATUSES,
  parseChains,
  parseOrder,
  parsePaymentDetail,
} from "./models.js";

/** A signature, or a function returning a fresh one (e.g. from your backend once 300 s passed). */
export type SignatureSource = string | (() => string | Promise<string>);

export interface SignedPage {
  signedUrl: string;
  signature: string | null;
}

/**
 * Split a page address into the URL the merchant signed and its signature: the signature is the
 * last `sig` query parameter; the signed URL is the address without exactly that parameter (and
 * without a `#fragment`), every other byte kept. What the hosted page in `frontend/` does.
 */
export function splitSignedUrl(href: string): SignedPage {
  const hash = href.indexOf("#");
  const url = hash < 0 ? href : href.slice(0, hash);
  const q = url.indexOf("?");
  if (q < 0) return { signedUrl: url, signature: null };
  const parts = url.slice(q + 1).split("&");
  let at = -1;
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] ?? "";
    if (part === "sig" || part.startsWith("sig=")) {
      at = i;
      break;
    }
  }
  if (at < 0) return { signedUrl: url, signature: null };
  let signature = (parts[at] ?? "").slice(4);
  try {
    signature = decodeURIComponent(signature);
  } catch {
    // keep it raw
  }
  parts.splice(at, 1);
  const rest = parts.join("&");
  return {
    signedUrl: rest ? `${url.slice(0, q)}?${rest}` : url.slice(0, q),
    signature: signature.trim() || null,
  };
}

type SocketLike = {
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(code?: number): void;
};
export type SocketConstructor = new (url: string) => SocketLike;

export interface UserClientOptions extends HttpOptions {
  /** The WebSocket class; default the global one. `null` forces polling. */
  WebSocket?: SocketConstructor | null;
}

export interface WatchOptions {
  /** Polling interval while the socket is down (default 3000 ms). */
  pollMs?: number;
  /** Errors polling cannot get past (a refused signature, an unknown order). */
  onError?: (error: unknown) => void;
  /** Whether live updates are flowing over the socket. */
  onLink?: (up: boolean) => void;
}

export interface Watch {
  /** Resolves with the order once it reaches `paid`, `expired` or `cancelled`. */
  done: Promise<Order>;
  stop(): void;
}

export class UserClient {
  readonly baseUrl: string;
  readonly signedUrl: string;
  private readonly signature: SignatureSource;
  private readonly options: UserClientOptions;

  constructor(baseUrl: string, signedUrl: string, signature: SignatureSource, options: UserClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.signedUrl = signedUrl;
    this.signature = signature;
    this.options = options;
  }

  /** A client for the page at `href` (default: the current page), which carries `&sig=…`. */
  static fromPage(baseUrl: string, href?: string, options: UserClientOptions = {}): UserClient {
    const page = href ?? (globalThis as { location?: { href: string } }).location?.href;
    if (!page) throw new TypeError("no page address: pass href");
    const { signedUrl, signature } = splitSignedUrl(page);
    if (!signature) throw new TypeError("the page address has no sig parameter");
    return new UserClient(baseUrl, signedUrl, signature, options);
  }

  async headers(): Promise<Record<string, string>> {
    const signature = typeof this.signature === "string" ? this.signature : await this.signature();
    return { "Ocrch-Signed-Url": this.signedUrl, "Ocrch-Signature": signature };
  }

  private async call<T>(call: Omit<Call<T>, "headers">, extra: Record<string, string> = {}): Promise<T> {
    return send(this.baseUrl, { ...call, headers: { ...(await this.headers()), ...extra } }, this.options);
  }

  chains(): Promise<ChainCoinPair[]> {
    return this.call({ method: "GET", path: "/api/v1/user/chains", parse: parseChains });
  }

  /** Reserve the exact amount to send on `blockchain` in `stablecoin` (201 payment detail). */
  createPayment(orderId: string, blockchain: string, stablecoin: string): Promise<PaymentDetail> {
    return this.call(
      {
        method: "POST",
        path: orderPath(orderId, "payment"),
        parse: parsePaymentDetail,
        body: JSON.stringify({ blockchain, stablecoin }),
      },
      { "Content-Type": "application/json" },
    );
  }

  cancel(orderId: string): Promise<Order> {
    return this.call({ method: "POST", path: orderPath(orderId, "cancel"), parse: parseOrder });
  }

  status(orderId: string): Promise<Order> {
    return this.call({ method: "GET", path: orderPath(orderId, "status"), parse: parseOrder });
  }

  /** The WebSocket address, authenticated by query parameters (browsers cannot set headers). */
  async socketUrl(orderId: string): Promise<string> {
    const headers = await this.headers();
    const base = new URL(this.baseUrl);
    base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({
      signed_url: headers["Ocrch-Signed-Url"] ?? "",
      signature: headers["Ocrch-Signature"] ?? "",
    });
    return `${base.toString().replace(/\/+$/, "")}${orderPath(orderId, "ws")}?${query}`;
  }

  /**
   * Follow an order live: the WebSocket (snapshot, then one frame per change) while it is up;
   * polling `…/status` every `pollMs` while it is down, with reconnects backing off to 15 s.
   * `onOrder` gets every state seen (frames carry the whole order, duplicates are harmless).
   */
  watch(orderId: string, onOrder: (order: Order) => void, options: WatchOptions = {}): Watch {
    const Socket =
      this.options.WebSocket === undefined
        ? ((globalThis as { WebSocket?: SocketConstructor }).WebSocket ?? null)
        : this.options.WebSocket;
    const pollMs = options.pollMs ?? 3000;
    let stopped = false;
    let socket: SocketLike | null = null;
    let attempt = 0;
    let pollTimer: ReturnType<typeof setTimeout> | undefined;
    let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
    let resolveDone!: (order: Order) => void;
    let rejectDone!: (error: unknown) => void;
    const done = new Promise<Order>((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    done.catch(() => undefined); // an unobserved failure is reported through onError

    const stop = (): void => {
      stopped = true;
      clearTimeout(pollTimer);
      clearTimeout(reconnectTimer);
      const open = socket;
      socket = null;
      if (open) {
        open.onclose = null;
        try {
          open.close(1000);
        } catch {
          // already closed
        }
      }
    };
    const fail = (error: unknown): void => {
      stop();
      options.onError?.(error);
      rejectDone(error);
    };
    const deliver = (order: Order): void => {
      if (stopped) return;
      onOrder(order);
      if (TERMINAL_STATUSES.has(order.status)) {
        stop();
        resolveDone(order);
      }
    };
    const poll = async (): Promise<void> => {
      clearTimeout(pollTimer);
      try {
        deliver(await this.status(orderId));
      } catch (error) {
        const transient = !(error instanceof ApiError) || error.status >= 500 || error.status === 429;
        if (!transient && !socket) return fail(error);
      }
      if (!stopped && !socket) pollTimer = setTimeout(() => void poll(), pollMs);
    };
    const dropped = (): void => {
      if (stopped) return;
      options.onLink?.(false);
      void poll();
      if (!Socket) return;
      const delay = Math.min(15_000, 1000 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
      attempt = Math.min(attempt + 1, 5);
      reconnectTimer = setTimeout(() => void connect(), delay);
    };
    const connect = async (): Promise<void> => {
      if (stopped || socket) return;
      if (!Socket) return dropped();
      let ws: SocketLike;
      try {
        ws = new Socket(await this.socketUrl(orderId));
      } catch {
        return dropped();
      }
      if (stopped) return ws.close(1000);
      socket = ws;
      ws.onmessage = (event) => {
        let message: { type?: string; order?: unknown; code?: number };
        try {
          message = JSON.parse(String(event.data));
        } catch {
          return;
        }
        if (message.type === "status_update" && message.order) {
          attempt = 0;
          clearTimeout(pollTimer);
          options.onLink?.(true);
          deliver(parseOrder(message.order));
        } else if (message.type === "error" && message.code === 4004) {
          fail(new ApiError(404, "order not found"));
        }
      };
      ws.onerror = () => undefined;
      ws.onclose = () => {
        if (socket !== ws) return;
        socket = null;
        dropped();
      };
    };
    void connect();
    return { done, stop };
  }
}
