// The checkout page: reads its signed address, lists the chain/coin choices, creates the payment,
// and follows the order live until it is paid, expired or cancelled. See docs/checkout-page.md.

import { ApiError, Client, Live, TERMINAL, splitSignedUrl } from "./api.js";
import { pickLanguage, setLanguage, t } from "./i18n.js";
import { payWithWallet, provider } from "./wallet.js";

const $ = (id) => document.getElementById(id);
const NETWORKS = {
  eth: "Ethereum", polygon: "Polygon", base: "Base", arb: "Arbitrum One", op: "Optimism",
  linea: "Linea", avaxc: "Avalanche C-Chain", tron: "TRON", bsc: "BNB Smart Chain", solana: "Solana",
};
const STANDARDS = { tron: "TRC-20", bsc: "BEP-20", solana: "SPL" };
// Network marks: the chain's brand colour and glyph (BNB's rotated squares, Solana's three bars).
const SVG = (body) => `data:image/svg+xml,${encodeURIComponent(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">${body}</svg>`)}`;
const NETWORK_ICONS = {
  bsc: SVG('<circle cx="16" cy="16" r="16" fill="#F0B90B"/><g fill="#fff"><path d="M16 6l3 3-3 3-3-3z"/><path d="M10 12l3 3-3 3-3-3z"/><path d="M22 12l3 3-3 3-3-3z"/><path d="M16 12l3 3-3 3-3-3z" transform="translate(0 1)"/><path d="M16 20l3 3-3 3-3-3z"/></g>'),
  solana: SVG('<circle cx="16" cy="16" r="16" fill="#000"/><defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#9945FF"/><stop offset="1" stop-color="#14F195"/></linearGradient></defs><g fill="url(#g)"><path d="M10 10h13l-2 2.5H8z"/><path d="M8 15h13l2 2.5H10z"/><path d="M10 20h13l-2 2.5H8z"/></g>'),
};
const NETWORK_COLORS = {
  eth: "#627EEA", polygon: "#8247E5", base: "#0052FF", arb: "#28A0F0", op: "#FF0420",
  linea: "#121212", avaxc: "#E84142", tron: "#FF060A",
};

function networkIcon(chain) {
  const mark = document.createElement("span");
  mark.className = `net net-${chain}`;
  mark.setAttribute("aria-hidden", "true");
  mark.dataset.testid = `net-${chain}`;
  if (NETWORK_ICONS[chain]) {
    const img = document.createElement("img");
    img.src = NETWORK_ICONS[chain];
    img.alt = "";
    mark.append(img);
  } else {
    mark.textContent = (NETWORKS[chain] || chain).slice(0, 1);
    mark.style.background = NETWORK_COLORS[chain] || "#667";
  }
  return mark;
}
const TEST_CHAINS = new Set([31337, 1337]);
const COIN_MARKS = { USDT: "T", USDC: "C", DAI: "D" };
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const REDIRECT_SECONDS = 3;
const FATAL = new Set(["expired", "invalid", "origin", "not_found"]);
const LATE_WATCH_MS = 60 * 60 * 1000;

const state = {
  lang: "en", client: null, live: null, apiBase: "", order: null, detail: null, view: "",
  final: false, busy: false, tick: null, requote: null, statusText: "", confirmingSince: null,
  remainderAsked: "",
};

// ---------------------------------------------------------------------------------------------
// Small helpers

function show(view) {
  for (const name of ["loading", "choose", "pay", "done", "error"]) $(`v-${name}`).hidden = name !== view;
  state.view = view;
  $("card").setAttribute("aria-busy", String(view === "loading"));
}

function focusHeading(id) {
  const el = $(id);
  if (el) el.focus({ preventScroll: false });
}

function translate() {
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
}

function networkName(chain, chainId) {
  const name = NETWORKS[chain] || chain;
  return TEST_CHAINS.has(chainId) ? `${name} (${t("test_network")})` : name;
}

const shortHash = (hash) => (String(hash).length > 20 ? `${String(hash).slice(0, 10)}…${String(hash).slice(-6)}` : String(hash));
const standard = (chain) => STANDARDS[chain] || "ERC-20";

function safeHttpUrl(value) {
  if (typeof value !== "string" || !value) return null;
  try {
    const url = new URL(value, location.href);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

function storage(key, value) {
  try {
    if (value === undefined) return JSON.parse(sessionStorage.getItem(key) || "null");
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, JSON.stringify(value));
  } catch { /* storage disabled: the page works without it */ }
  return null;
}

function alertMessage(text) {
  const el = $("alert");
  el.textContent = text || "";
  el.hidden = !text;
}

function announce(text) {
  const el = $("announce");
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 50);
}

function errorText(error) {
  const key = {
    network: "err_network", busy: "err_busy", unavailable: "err_unavailable", no_wallet: "err_no_wallet",
    not_pending: "err_not_pending", server: "err_server",
  }[error.kind];
  return t(key || "err_server");
}

// ---------------------------------------------------------------------------------------------
// Status line, countdown, order summary

function setStatus(word, text) {
  const el = $("status");
  el.hidden = false;
  if (el.dataset.status === word && state.statusText === text) return;
  state.statusText = text;
  el.dataset.status = word;
  const dot = document.createElement("span");
  dot.className = "dot";
  dot.setAttribute("aria-hidden", "true");
  const label = document.createElement("span");
  label.textContent = text;
  el.replaceChildren(dot, label);
  if (!text.includes(word)) {
    // The status word is a contract (docs/checkout-page.md); other languages carry it hidden.
    const keyword = document.createElement("span");
    keyword.className = "keyword";
    keyword.setAttribute("aria-hidden", "true");
    keyword.textContent = ` (${word})`;
    el.append(keyword);
  }
}

function renderProgress(k, n) {
  const box = $("progress");
  box.hidden = !(n > 0);
  if (box.hidden) return;
  box.setAttribute("aria-valuenow", String(k));
  box.setAttribute("aria-valuemax", String(n));
  $("progress-bar").style.width = `${Math.max(6, Math.min(100, (k / n) * 100))}%`;
}

function formatTime(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0");
  return `${h ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

function startCountdown() {
  if (state.tick) return;
  let zeroTicks = 0;
  const update = () => {
    if (state.final || !state.order) return;
    const left = Math.max(0, Math.floor(state.order.expires_at - Date.now() / 1000));
    const el = $("countdown");
    el.hidden = Boolean(state.order.transfer);  // a payment is confirming: the clock no longer matters
    el.classList.toggle("soon", left < 120);
    el.textContent = left > 0 ? t("expires_in", { time: formatTime(left) }) : t("expiring");
    if (left === 0 && state.live && zeroTicks++ % 3 === 0) state.live.pollOnce();
  };
  update();
  state.tick = setInterval(update, 1000);
}

function stopCountdown() {
  clearInterval(state.tick);
  state.tick = null;
  $("countdown").hidden = true;
}

function renderSummary() {
  const order = state.order;
  $("summary").hidden = false;
  $("order-ref").textContent = t("order_ref", { ref: order.merchant_order_id });
  const amount = partReceived(order) ? order.amount_due : order.amount;
  $("due").textContent = withUnit(amount, order);
  $("due-label").textContent = t({ pending: "amount_due", paid: "amount_paid" }[order.status] || "order_total");
}

/** An amount in the order's own units: its fiat currency, else the coin being paid. */
function withUnit(amount, order) {
  const unit = order.currency || (state.detail && state.detail.stablecoin) || (order.payment && order.payment.stablecoin);
  return unit ? `${amount} ${unit}` : amount;
}

// ---------------------------------------------------------------------------------------------
// Part payments (docs/payments.md): a pending order that has received part of its amount carries
// the deposit for the rest as `payment`; the page asks for that deposit's detail (the same
// `POST …/payment`, which answers with it) and shows it like any other.

/** A decimal string above zero, read without floating point. */
const positive = (text) => /^\d*\.?\d*$/.test(String(text ?? "")) && /[1-9]/.test(String(text));

const partReceived = (order) => order.status === "pending" && positive(order.amount_received) && positive(order.amount_due);
const partlyPaid = (order) => partReceived(order) && Boolean(order.payment);

const depositKey = (d) => (d ? `${d.blockchain}|${d.stablecoin}|${d.wallet_address}|${d.amount_base_units}` : "");

/** Show the remainder deposit once per deposit; the detail comes back through `choose`. */
function followRemainder(order) {
  const key = depositKey(order.payment);
  if (depositKey(state.detail) === key || state.remainderAsked === key || state.busy) return;
  state.remainderAsked = key;
  choose(order.payment.blockchain, order.payment.stablecoin, { quiet: true });
}

function remainderStatus(order) {
  // The detail on show, if it was asked for after this part arrived (else the remainder as pushed).
  const d = state.detail && state.detail.askedAt === order.amount_received ? state.detail : order.payment;
  return t("st_partial", { received: withUnit(order.amount_received, order), remaining: `${d.amount} ${d.stablecoin}` });
}

/** A short, neutral line on the final view when the payment was not one exact transfer. */
function exceptionNote(order) {
  const flags = Array.isArray(order.payment_exceptions) ? order.payment_exceptions : [];
  if (order.status !== "paid") {
    return positive(order.amount_received) ? t("x_ended", { received: withUnit(order.amount_received, order) }) : "";
  }
  return ["partial", "underpaid", "overpaid", "late", "duplicate"]
    .filter((flag) => flags.includes(flag)).map((flag) => t(`x_${flag}`)).join(" ");
}

/** Show an order state from any source (first load, socket, poll, cancel). */
function applyOrder(order) {
  if (state.final || !order || !order.status) return;
  state.order = order;
  renderSummary();
  if (TERMINAL.has(order.status)) {
    if (lateConfirming(order)) showLateConfirming(order);
    else finish(order);
    return;
  }
  startCountdown();
  const n = Number(order.required_confirmations) || 0;
  const detected = Boolean(order.transfer) && n > 0;
  const partly = !detected && partlyPaid(order);
  if (partly) {
    state.confirmingSince = null;  // that part is credited; the rest has not been sent yet
    followRemainder(order);
  }
  if (detected) {
    state.confirmingSince ??= Date.now();
    const k = Math.min(Number(order.confirmations) || 0, n);
    setStatus("detected", t("st_detected", { k, n }));
    renderProgress(k, n);
    if (state.view === "choose" && !state.busy && order.transfer.blockchain) {
      choose(order.transfer.blockchain, order.transfer.stablecoin, { quiet: true });
    }
  } else {
    setStatus("pending", partly ? remainderStatus(order) : t(state.view === "pay" ? "st_waiting" : "st_pending"));
    renderProgress(0, 0);
  }
  for (const id of ["cancel", "change"]) $(id).hidden = detected;
  $("v-pay").dataset.phase = detected ? "detected" : "waiting";
  $("pay-title").textContent = t(detected ? "confirming_title" : partly ? "rest_title" : "pay_title");
  const hash = detected && order.transfer.tx_hash;
  $("tx").hidden = !hash;
  if (hash) $("tx").textContent = `${t("tx")} ${shortHash(hash)}`;
  $("wallet-pay").hidden = detected || !walletUsable();
}

/**
 * An order that expires while its payment confirms is still paid if the transfer came in time
 * (the server credits it on time): the page keeps watching instead of announcing a dead end.
 */
function lateConfirming(order) {
  return order.status === "expired" && state.confirmingSince != null
    && Date.now() - state.confirmingSince < LATE_WATCH_MS;
}

function showLateConfirming(order) {
  state.order = order;
  stopCountdown();
  setStatus("expired", t("st_expired_confirming"));
  for (const id of ["cancel", "change", "wallet-pay"]) $(id).hidden = true;
}

function finish(order) {
  state.final = true;
  if (state.live) state.live.stop();
  stopCountdown();
  renderProgress(0, 0);
  storage(`sc-choice:${order.order_id}`, null);
  const word = order.status;
  setStatus(word, t(`st_${word}`));
  const done = $("v-done");
  done.dataset.state = word;
  $("done-title").textContent = t(`${word}_title`);
  $("done-text").textContent = t(`${word}_text`);
  const extra = exceptionNote(order);
  $("done-extra").textContent = extra;
  $("done-extra").hidden = !extra;
  const link = $("done-link");
  const target = safeHttpUrl(word === "paid" ? order.success_url : order.cancel_url);
  link.hidden = !target;
  $("done-note").textContent = target ? "" : t("close_page");
  if (target) {
    link.href = target;
    link.textContent = t(word === "paid" ? "return_now" : "back");
  }
  show("done");
  focusHeading("done-title");
  if (word === "paid" && target) {
    let left = REDIRECT_SECONDS;
    $("done-note").textContent = t("redirecting", { s: left });
    const timer = setInterval(() => {
      left -= 1;
      if (left > 0) {
        $("done-note").textContent = t("redirecting", { s: left });
      } else {
        clearInterval(timer);
        location.assign(target);
      }
    }, 1000);
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

function fail(error) {
  if (state.final) return;
  if (!(error instanceof ApiError)) error = new ApiError(0, String(error && error.message || error));
  if (error.kind === "not_pending") {
    refreshStatus();
    return;
  }
  const paying = state.view === "pay";
  const key = {
    incomplete: "err_incomplete", expired: paying ? "err_expired_paying" : "err_expired",
    invalid: "err_invalid", origin: "err_origin", not_found: "err_not_found",
  }[error.kind];
  if (state.live) state.live.stop();
  stopCountdown();
  $("error-text").textContent = key ? t(key) : errorText(error);
  let detail = `${error.status || "network error"} ${error.text}`.trim();
  if (error.kind === "origin") {
    try { detail += ` — ${new URL(state.client.auth.signedUrl).origin}`; } catch { /* no URL */ }
  }
  $("error-detail").textContent = detail;
  $("error-details").hidden = !detail;
  $("retry").hidden = FATAL.has(error.kind) || error.kind === "incomplete";
  show("error");
  focusHeading("error-title");
}

async function refreshStatus() {
  try {
    applyOrder(await state.client.status());
  } catch (error) {
    fail(error);
  }
}

// ---------------------------------------------------------------------------------------------
// Choosing a chain/coin and paying

function walletUsable() {
  const d = state.detail;
  return Boolean(d && provider() && d.chain_id != null && d.blockchain !== "tron");
}

function renderOptions(pairs) {
  const list = $("options");
  list.replaceChildren();
  for (const pair of pairs) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "option";
    button.dataset.testid = `option-${pair.blockchain}-${pair.stablecoin}`;
    button.dataset.chain = pair.blockchain;
    button.dataset.coin = pair.stablecoin;
    const badge = document.createElement("span");
    badge.className = `coin coin-${pair.stablecoin.toLowerCase()}`;
    badge.setAttribute("aria-hidden", "true");
    badge.textContent = COIN_MARKS[pair.stablecoin] || pair.stablecoin.slice(0, 1);
    const text = document.createElement("span");
    text.className = "option-text";
    const coin = document.createElement("strong");
    coin.textContent = pair.stablecoin;
    const net = document.createElement("span");
    net.append(networkIcon(pair.blockchain), `${networkName(pair.blockchain)} · ${standard(pair.blockchain)}`);
    text.append(coin, net);
    const chevron = document.createElement("span");
    chevron.className = "chevron";
    chevron.setAttribute("aria-hidden", "true");
    button.append(badge, text, chevron);
    button.addEventListener("click", () => choose(pair.blockchain, pair.stablecoin));
    item.append(button);
    list.append(item);
  }
}

async function choose(blockchain, stablecoin, { quiet = false } = {}) {
  if (state.busy || state.final) return;
  state.busy = true;
  alertMessage("");
  const buttons = [...document.querySelectorAll(".option")];
  const chosen = buttons.find((b) => b.dataset.chain === blockchain && b.dataset.coin === stablecoin);
  for (const b of buttons) b.disabled = true;
  if (chosen) chosen.setAttribute("aria-busy", "true");
  try {
    const askedAt = state.order && state.order.amount_received;
    const detail = await state.client.payment(blockchain, stablecoin);
    if (state.final) return;
    detail.askedAt = askedAt;
    state.detail = detail;
    storage(`sc-choice:${state.client.orderId}`, { blockchain, stablecoin });
    renderPay(detail);
    show("pay");
    applyOrder(state.order);
    if (!quiet) focusHeading("pay-title");
  } catch (error) {
    if (["expired", "invalid", "origin", "not_found", "not_pending"].includes(error.kind)) fail(error);
    else alertMessage(errorText(error));
  } finally {
    state.busy = false;
    for (const b of buttons) { b.disabled = false; b.removeAttribute("aria-busy"); }
  }
}

function renderPay(d) {
  const network = networkName(d.blockchain, d.chain_id);
  $("amount").textContent = d.amount;
  $("coin").textContent = d.stablecoin;
  $("network").replaceChildren(networkIcon(d.blockchain), `${network} · ${standard(d.blockchain)}`);
  $("address").textContent = d.wallet_address;
  const qr = $("qr");
  qr.src = `${state.apiBase}/checkout/qr.svg?data=${encodeURIComponent(d.payment_uri)}`;
  qr.alt = t("qr_alt", { amount: d.amount, coin: d.stablecoin, network });
  let note = t("exact_note", { amount: d.amount, coin: d.stablecoin, network });
  const asked = state.order && (partReceived(state.order) ? state.order.amount_due : state.order.amount);
  if (d.quote || (asked && Number(d.amount) !== Number(asked))) note += ` ${t("unique_note")}`;
  $("note").textContent = note;
  renderQuote(d);
  $("open-wallet").href = d.payment_uri;
  $("wallet-pay").hidden = !walletUsable();
  $("wallet-msg").textContent = "";
  renderSummary();
}

/** A fiat order's locked quote: the price, the rate and where it came from, and a fresh quote
 * (the same chain and coin asked again) once the lock ends. */
function renderQuote(d) {
  const el = $("quote");
  clearTimeout(state.requote);
  el.hidden = !d.quote;
  if (!d.quote) return;
  const q = d.quote;
  const clock = (unix) => new Date(unix * 1000).toLocaleTimeString();
  el.textContent = t("quote_line", {
    fiat: `${q.fiat_amount} ${q.currency}`,
    rate: `${q.rate} ${q.currency}/${d.stablecoin}`,
    source: q.source,
    fetched: clock(q.fetched_at),
    until: clock(q.expires_at),
  });
  // `expires_at` is whole seconds, rounded down: ask a full second later, when the lock has ended.
  const wait = q.expires_at * 1000 - Date.now() + 1000;
  state.requote = setTimeout(() => {
    if (!state.final && state.detail === d && !(state.order && state.order.transfer)) {
      choose(d.blockchain, d.stablecoin, { quiet: true });
    }
  }, Math.max(wait, 1000));
}

async function copy(button, text) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    area.remove();
    button.focus();
  }
  const label = button.querySelector(".copy-label");
  label.textContent = ok ? t("copied") : t("copy");
  button.classList.toggle("done", ok);
  announce(ok ? t("copied") : t("copy_failed"));
  clearTimeout(button.resetTimer);
  button.resetTimer = setTimeout(() => { label.textContent = t("copy"); button.classList.remove("done"); }, 2000);
}

async function walletPay() {
  const button = $("wallet-pay");
  const message = $("wallet-msg");
  button.disabled = true;
  message.textContent = t("wallet_busy");
  try {
    const hash = await payWithWallet(provider(), state.detail);
    message.textContent = t("wallet_sent", { hash: shortHash(hash) });
  } catch (error) {
    const code = error && (error.code ?? error.data?.originalError?.code);
    if (code === 4001) message.textContent = t("wallet_rejected");
    else if (code === 4902) message.textContent = t("wallet_chain", { id: state.detail.chain_id });
    else message.textContent = t("wallet_failed", { msg: error && error.message || String(error) });
  } finally {
    button.disabled = false;
  }
}

async function cancelOrder() {
  const button = $("cancel");
  button.disabled = true;
  button.textContent = t("cancelling");
  alertMessage("");
  try {
    applyOrder(await state.client.cancel());
  } catch (error) {
    if (FATAL.has(error.kind) || error.kind === "not_pending") fail(error);
    else alertMessage(errorText(error));
  } finally {
    button.disabled = false;
    button.textContent = t("cancel");
  }
}

// ---------------------------------------------------------------------------------------------
// Start

async function loadConfig() {
  try {
    const response = await fetch("config.json", { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) return { present: false };
    const config = await response.json();
    return config && typeof config === "object" ? { ...config, present: true } : { present: false };
  } catch {
    return { present: false };
  }
}

/**
 * Where the User API lives: config.json's api_base, else this origin. `?api=` in the page address
 * is honoured only when a config.json says `"allow_api_param": true`: the parameter is not covered
 * by any check the page can make, and a forged link must not point a shop's own page at someone
 * else's payment server. No config.json fails closed (this origin).
 */
function apiBaseFrom(config, param) {
  const pick = param && config.present && config.allow_api_param === true ? param : config.api_base;
  const url = safeHttpUrl(pick || "");
  return pick && url ? url.replace(/\/+$/, "").replace(/\?.*$/, "") : "";
}

function rememberAuth(auth) {
  try {
    const url = new URL(auth.signedUrl);
    if (url.origin !== location.origin) return;
    const sep = auth.signedUrl.includes("?") ? "&" : "?";
    history.replaceState(history.state, "", `${auth.signedUrl}${sep}sig=${encodeURIComponent(auth.signature)}`);
  } catch { /* keep the old address */ }
}

function startLive() {
  if (state.live || state.final) return;
  state.live = new Live(state.client, {
    onOrder: applyOrder,
    onError: fail,
    keepWatching: lateConfirming,
    onLink: (up) => {
      clearTimeout(state.linkTimer);
      if (up) $("link-state").hidden = true;
      else state.linkTimer = setTimeout(() => { $("link-state").hidden = state.final; }, 2500);
    },
  });
  state.live.start();
}

async function load() {
  show("loading");
  try {
    const [order, pairs] = await Promise.all([state.client.status(), state.client.chains()]);
    renderOptions(pairs);
    if (TERMINAL.has(order.status)) {
      applyOrder(order);
      return;
    }
    show("choose");
    applyOrder(order);
    startLive();
    const remembered = storage(`sc-choice:${state.client.orderId}`);
    if (state.view === "choose" && remembered && pairs.some((p) => p.blockchain === remembered.blockchain && p.stablecoin === remembered.stablecoin)) {
      await choose(remembered.blockchain, remembered.stablecoin, { quiet: true });
    }
  } catch (error) {
    fail(error);
  }
}

/**
 * A checkout session's page (`&session=cs_…`, covered by the signature like the rest of the
 * address) renews its signature at the session link on the server that signed it, not at the
 * merchant's refresh_url: the session id is the shopper's credential (docs/checkout-sessions.md).
 */
function sessionRefreshUrl(session) {
  if (!/^cs_(test|live)_[A-Za-z0-9]{8,64}$/.test(session || "")) return null;
  return `${state.apiBase}/checkout/s/${session}/signature`;
}

/**
 * An Epusdt / Epay order's page (`&trade=<32 hex>`, signed like the rest) renews its signature at
 * the payment URL it came from: the trade id is the shopper's credential there (docs/integrations.md).
 */
function tradeRefreshUrl(trade) {
  if (!/^[0-9a-f]{32}$/.test(trade || "")) return null;
  return `${state.apiBase}/pay/checkout-counter/${trade}/signature`;
}

/** A session order's line under the summary: what is bought, and where the receipt goes. */
async function showSessionLine(session, orderId) {
  if (!/^cs_(test|live)_[A-Za-z0-9]{8,64}$/.test(session || "")) return;
  try {
    const url = `${state.apiBase}/checkout/s/${session}/summary?order_id=${encodeURIComponent(orderId)}`;
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const summary = await response.json();
    const parts = [];
    if (typeof summary.product === "string") parts.push(summary.product);
    if (typeof summary.customer_email === "string") parts.push(t("receipt_to", { email: summary.customer_email }));
    if (!parts.length) return;
    $("session-line").textContent = parts.join(" · ");
    $("session-line").hidden = false;
  } catch {
    /* the line is a courtesy: the payment works without it */
  }
}

async function main() {
  const params = new URLSearchParams(location.search);
  state.lang = pickLanguage([params.get("lang"), ...(navigator.languages || [navigator.language])]);
  setLanguage(state.lang);
  document.documentElement.lang = state.lang;
  document.title = t("title");
  translate();

  $("copy-amount").addEventListener("click", (e) => copy(e.currentTarget, $("amount").textContent));
  $("copy-address").addEventListener("click", (e) => copy(e.currentTarget, $("address").textContent));
  $("wallet-pay").addEventListener("click", walletPay);
  $("cancel").addEventListener("click", cancelOrder);
  $("change").addEventListener("click", () => {
    show("choose");
    applyOrder(state.order);
    const first = document.querySelector(`.option[data-chain="${state.detail?.blockchain}"][data-coin="${state.detail?.stablecoin}"]`) || document.querySelector(".option");
    if (first) first.focus();
  });
  $("retry").addEventListener("click", () => {
    state.final = false;
    state.live = null;
    load();
  });

  const { signedUrl, signature } = splitSignedUrl(location.href);
  const orderId = params.get("order_id");
  if (!orderId || !UUID.test(orderId) || !signature) {
    fail(new ApiError(0, "the page address needs order_id and sig", "incomplete"));
    return;
  }
  const config = await loadConfig();
  state.apiBase = apiBaseFrom(config, params.get("api"));
  state.client = new Client({
    apiBase: state.apiBase,
    orderId,
    auth: { signedUrl, signature },
    refreshUrl: safeHttpUrl(
      sessionRefreshUrl(params.get("session")) || tradeRefreshUrl(params.get("trade")) || config.refresh_url
    ),
    onAuth: rememberAuth,
  });
  showSessionLine(params.get("session"), orderId);
  await load();
}

main();
