// The Ocrch User API as a checkout page uses it: the signed URL read from the page's own address,
// signed calls, a signature refresh through the merchant's backend, and live order updates
// (WebSocket first, polling while it is down, reconnect with backoff).

export const TERMINAL = new Set(["paid", "expired", "cancelled"]);

/**
 * Split the page address into the URL the merchant signed and the signature.
 * The signature travels as the `sig` query parameter (the last one if several); the signed URL is
 * the address with exactly that `sig=…` parameter and its separator removed, every other byte kept.
 * A `+` in the value stays a `+` (base64), `%2B` and friends are decoded.
 */
export function splitSignedUrl(href) {
  const hash = href.indexOf("#");
  const url = hash < 0 ? href : href.slice(0, hash);
  const q = url.indexOf("?");
  if (q < 0) return { signedUrl: url, signature: null };
  const parts = url.slice(q + 1).split("&");
  let at = -1;
  for (let i = parts.length - 1; i >= 0; i--) {
    if (parts[i] === "sig" || parts[i].startsWith("sig=")) { at = i; break; }
  }
  if (at < 0) return { signedUrl: url, signature: null };
  let signature = parts[at].slice(4);
  try { signature = decodeURIComponent(signature); } catch { /* keep it raw */ }
  parts.splice(at, 1);
  const rest = parts.join("&");
  return { signedUrl: rest ? `${url.slice(0, q)}?${rest}` : url.slice(0, q), signature: signature.trim() || null };
}

/** A failed call: `status` 0 is a network failure; `text` is the server's plain-text reason. */
export class ApiError extends Error {
  constructor(status, text, kind) {
    super(`${status || "network"} ${text}`.trim());
    this.status = status;
    this.text = text;
    this.fixedKind = kind;
  }

  /** What kind of failure this is, for choosing the message shown to the shopper. */
  get kind() {
    const { status, text } = this;
    if (this.fixedKind) return this.fixedKind;
    if (status === 0) return "network";
    if (status === 401 && text === "signature expired") return "expired";
    if (status === 401 || status === 400 && /header|signature|signed-url/i.test(text)) return "invalid";
    if (status === 403) return text === "origin not allowed" ? "origin" : "invalid";
    if (status === 404) return "not_found";
    if (status === 409) return "not_pending";
    if (status === 400 && text.startsWith("no wallet")) return "no_wallet";
    if (status === 429) return "busy";
    if (status === 503) return "unavailable";
    return "server";
  }
}

export class Client {
  /**
   * @param {object} o
   * @param {string} o.apiBase  "" for the page's own origin, else e.g. "https://pay.example.com"
   * @param {string} o.orderId
   * @param {{signedUrl: string, signature: string}} o.auth
   * @param {string|null} o.refreshUrl  the merchant endpoint that re-signs the page URL
   * @param {(auth: object) => void} [o.onAuth]  told about each refreshed signature
   */
  constructor({ apiBase, orderId, auth, refreshUrl, onAuth }) {
    this.base = apiBase.replace(/\/+$/, "");
    this.orderId = orderId;
    this.auth = auth;
    this.refreshUrl = refreshUrl;
    this.onAuth = onAuth;
    this.refreshing = null;
  }

  orderPath(suffix) {
    return `/api/v1/user/orders/${encodeURIComponent(this.orderId)}/${suffix}`;
  }

  chains() { return this.call("GET", "/api/v1/user/chains"); }
  status() { return this.call("GET", this.orderPath("status")); }
  cancel() { return this.call("POST", this.orderPath("cancel")); }
  payment(blockchain, stablecoin) {
    return this.call("POST", this.orderPath("payment"), { blockchain, stablecoin });
  }

  async call(method, path, body) {
    for (let attempt = 0; ; attempt++) {
      const headers = { "Ocrch-Signed-Url": this.auth.signedUrl, "Ocrch-Signature": this.auth.signature };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      let response;
      try {
        response = await fetch(this.base + path, {
          method, headers, cache: "no-store", credentials: "omit",
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        throw new ApiError(0, String(err && err.message || err));
      }
      if (response.ok) return response.json();
      const text = (await response.text().catch(() => "")).trim();
      const error = new ApiError(response.status, text);
      if (error.kind === "expired" && attempt === 0 && this.refreshUrl && await this.refresh()) continue;
      throw error;
    }
  }

  /** Ask the merchant's backend for a fresh signature; true when one arrived. Deduplicated. */
  refresh() {
    if (!this.refreshUrl) return Promise.resolve(false);
    this.refreshing ??= (async () => {
      try {
        const sep = this.refreshUrl.includes("?") ? "&" : "?";
        const url = `${this.refreshUrl}${sep}order_id=${encodeURIComponent(this.orderId)}`;
        const response = await fetch(url, { credentials: "include", cache: "no-store", headers: { Accept: "application/json" } });
        if (!response.ok) return false;
        const fresh = await response.json();
        if (typeof fresh.signed_url !== "string" || typeof fresh.signature !== "string") return false;
        this.auth = { signedUrl: fresh.signed_url, signature: fresh.signature };
        if (this.onAuth) this.onAuth(this.auth);
        return true;
      } catch {
        return false;
      } finally {
        setTimeout(() => { this.refreshing = null; }, 0);
      }
    })();
    return this.refreshing;
  }

  socketUrl() {
    const base = new URL(this.base || "/", location.href);
    base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ signed_url: this.auth.signedUrl, signature: this.auth.signature });
    return `${base.origin}${this.base ? base.pathname.replace(/\/+$/, "") : ""}${this.orderPath("ws")}?${query}`;
  }
}

/**
 * Follows one order: a WebSocket (snapshot, then changes) while it is up; while it is down, polling
 * `…/status` every `pollMs` and reconnecting with backoff. Stops at a terminal status, unless
 * `keepWatching(order)` says that one may still change (an expired order whose payment confirms).
 * `onOrder(order)` gets every state seen; `onError(ApiError)` an error polling cannot get past;
 * `onLink(up)` whether live updates are flowing.
 */
export class Live {
  constructor(client, { onOrder, onError, onLink, keepWatching = () => false, pollMs = 3000, heartbeatMs = 30000 }) {
    Object.assign(this, { client, onOrder, onError, onLink, keepWatching, pollMs, heartbeatMs });
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this.timers = {};
    this.polling = false;
    this.kick = () => this.reconnectNow();
    addEventListener("online", this.kick);
    document.addEventListener("visibilitychange", this.kick);
  }

  start() { this.connect(); }

  stop() {
    this.stopped = true;
    for (const name of Object.keys(this.timers)) this.clear(name);
    removeEventListener("online", this.kick);
    document.removeEventListener("visibilitychange", this.kick);
    if (this.ws) { const ws = this.ws; this.ws = null; ws.onclose = null; try { ws.close(1000); } catch { /* closed */ } }
  }

  clear(name) { clearTimeout(this.timers[name]); delete this.timers[name]; }

  deliver(order) {
    if (this.stopped) return;
    this.onOrder(order);
    if (TERMINAL.has(order.status) && !this.keepWatching(order)) this.stop();
  }

  connect() {
    if (this.stopped || this.ws) return;
    let ws;
    try {
      ws = new WebSocket(this.client.socketUrl());
    } catch {
      this.dropped();
      return;
    }
    this.ws = ws;
    this.timers.open = setTimeout(() => { if (ws.readyState !== WebSocket.OPEN) ws.close(); }, 10000);
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.type === "status_update" && message.order) {
        this.attempt = 0;
        this.clear("open");
        this.stopPolling();
        this.onLink(true);
        this.heartbeat();
        this.deliver(message.order);
      } else if (message.type === "error" && message.code === 4004) {
        this.stop();
        this.onError(new ApiError(404, "order not found"));
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.dropped();
    };
  }

  /** The socket is gone (or never came up): poll now and on, reconnect later. */
  dropped() {
    if (this.stopped) return;
    this.clear("open");
    this.clear("heartbeat");
    this.onLink(false);
    this.startPolling();
    const delay = Math.min(15000, 1000 * 2 ** this.attempt) * (0.8 + Math.random() * 0.4);
    this.attempt = Math.min(this.attempt + 1, 5);
    this.clear("reconnect");
    this.timers.reconnect = setTimeout(() => { delete this.timers.reconnect; this.connect(); }, delay);
  }

  reconnectNow() {
    if (this.stopped || this.ws || document.visibilityState === "hidden") return;
    this.clear("reconnect");
    this.attempt = 0;
    this.connect();
  }

  startPolling() {
    if (this.polling) return;
    this.polling = true;
    this.pollOnce();
  }

  stopPolling() {
    this.polling = false;
    this.clear("poll");
  }

  /** Poll now (e.g. when the countdown reaches zero), whatever the socket does. */
  async pollOnce() {
    this.clear("poll");
    try {
      this.deliver(await this.client.status());
    } catch (error) {
      if (this.stopped) return;
      const transient = ["network", "busy", "server", "unavailable"].includes(error.kind);
      const socketUp = this.ws && this.ws.readyState === WebSocket.OPEN;
      if (!transient && !socketUp) {  // an open socket still works, whatever the signature says now
        this.stop();
        this.onError(error);
        return;
      }
    }
    if (this.polling && !this.stopped) this.timers.poll = setTimeout(() => this.pollOnce(), this.pollMs);
  }

  /** A status read every so often while the socket is up: it catches a silently dead link. */
  heartbeat() {
    this.clear("heartbeat");
    this.timers.heartbeat = setTimeout(async () => {
      try { this.deliver(await this.client.status()); } catch { /* the socket decides */ }
      if (this.ws && !this.stopped) this.heartbeat();
    }, this.heartbeatMs);
  }
}
