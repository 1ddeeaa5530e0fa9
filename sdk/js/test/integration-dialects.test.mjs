// Every dialect's webhook, received from a real `stablecheckout serve` after a payment on anvil
// and verified by the SDK: OpenCheckout and OVGC session events, seed 002's callback (from the
// second server, whose `[webhooks].format` is "seed002"), and the Epusdt and Epay notify
// callbacks. Run by tests/sdk/test_js_sdk.py; skipped (with the reason) without its variables.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";

import {
  Client,
  EPUSDT_ACK,
  UserClient,
  WebhookVerificationError,
  WebhookVerifier,
  epaySign,
  epusdtSign,
  verifyEpayNotify,
  verifyEpusdtNotify,
  verifyOpenCheckoutWebhook,
} from "../dist/index.js";
import { BASE, SECRET, env, hookUrl, listen, pay, skip, waitForHook } from "./stack.mjs";

let hookServer;
before(async () => {
  if (!skip) hookServer = await listen();
});
after(() => hookServer?.close());

const verifier = () =>
  WebhookVerifier.forSecrets({
    merchantSecret: SECRET,
    sessionWebhookSecret: env.STABLECHECKOUT_WEBHOOK_SECRET,
    openCheckoutSecret: env.STABLECHECKOUT_OPENCHECKOUT_SECRET,
    ovgcSecret: env.STABLECHECKOUT_OVGC_SECRET,
  });
const bearer = () => ({ Authorization: `Bearer ${env.STABLECHECKOUT_API_KEY}`, "Content-Type": "application/json" });
const tampered = (hook) => Buffer.from(hook.body.toString("utf8").replace(/"id":"/, '"id":"x'));

/** What a shopper's browser does with a payment link: follow it to the signed hosted page, create the payment there, pay it. */
async function payThroughPage(link) {
  let location = link;
  for (let hop = 0; hop < 3 && !location.includes("/checkout/?order_id="); hop++) {
    const answer = await fetch(location, { redirect: "manual" });
    assert.ok([302, 303].includes(answer.status), `${location}: ${answer.status}`);
    location = new URL(answer.headers.get("location"), location).href;
  }
  const orderId = new URL(location).searchParams.get("order_id");
  const page = UserClient.fromPage(BASE, location);
  const detail = await page.createPayment(orderId, "eth", "USDT");
  const tx = await pay(detail.wallet_address, detail.amount_base_units);
  return { page, orderId, detail, tx };
}

test("OpenCheckout: create (seed 000), pay, the completed event verified by the SDK", { skip }, async () => {
  const orderRef = `oc-${randomUUID().slice(0, 8)}`;
  const response = await fetch(`${BASE}/api/checkout/sessions`, {
    method: "POST",
    headers: { ...bearer(), "Idempotency-Key": orderRef },
    body: JSON.stringify({
      mode: "payment",
      line_items: [{ price_data: { currency: "usd", product_data: { name: "Mug" }, unit_amount: 1450 }, quantity: 1 }],
      success_url: "https://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
      metadata: { order_id: orderRef },
    }),
  });
  const session = await response.json();
  assert.equal(response.status, 200, JSON.stringify(session));
  await payThroughPage(session.url);
  const hook = await waitForHook((b) => b?.session_id === session.id && b.status === "completed");
  const event = verifier().verify(hook.headers, hook.body);
  assert.equal(event.event_type, "opencheckout");
  assert.deepEqual([event.type, event.status, event.metadata.order_id], ["checkout.session.completed", "completed", orderRef]);
  assert.deepEqual([event.session.id, event.session.amount_total, event.eventId], [session.id, 1450, hook.headers["stablecheckout-event-id"]]);
  const header = hook.headers["opencheckout-signature"];
  assert.equal(verifyOpenCheckoutWebhook(env.STABLECHECKOUT_OPENCHECKOUT_SECRET, header, hook.body).id, event.id);
  assert.throws(() => verifyOpenCheckoutWebhook(SECRET, header, hook.body), WebhookVerificationError);
  assert.throws(() => verifier().verify(hook.headers, tampered(hook)), WebhookVerificationError);
});

test("OVGC: create (seed 001), pay, payment.succeeded verified; a cancel is payment.declined", { skip }, async () => {
  const create = async () => {
    const response = await fetch(`${BASE}/api/checkout-sessions`, {
      method: "POST",
      headers: bearer(),
      body: JSON.stringify({ amount: 2300, email: "buyer@example.com", success_url: "https://shop.test/ok", cancel_url: "https://shop.test/no" }),
    });
    assert.equal(response.status, 201);
    return (await response.json()).data;
  };
  const paid = await create();
  await payThroughPage(paid.checkout_url);
  const hook = await waitForHook((b) => b?.data?.id === paid.session.id && b.type === "payment.succeeded");
  const event = verifier().verify(hook.headers, hook.body);
  assert.equal(event.event_type, "ovgc");
  assert.deepEqual([event.data.amount, event.data.status, event.data.email], [2300, "completed", "buyer@example.com"]);
  assert.throws(() => verifier().verify(hook.headers, tampered(hook)), WebhookVerificationError);
  const stale = { ...hook.headers, "x-webhook-timestamp": String(Number(hook.headers["x-webhook-timestamp"]) - 1) };
  assert.throws(() => verifier().verify(stale, hook.body), /mismatch/);

  const declined = await create();
  const answer = await fetch(declined.checkout_url, { redirect: "manual" });
  const page = UserClient.fromPage(BASE, new URL(answer.headers.get("location"), BASE).href);
  await page.cancel(new URL(page.signedUrl).searchParams.get("order_id"));
  const cancel = await waitForHook((b) => b?.data?.id === declined.session.id);
  const event2 = verifier().verify(cancel.headers, cancel.body);
  assert.deepEqual([event2.type, event2.data.status], ["payment.declined", "declined"]);
});

test("seed 002: an order on the seed002 server, paid; the callback verified by Client.verifyWebhook", { skip }, async () => {
  const base = env.STABLECHECKOUT_SEED002_URL;
  const client = new Client(base, SECRET);
  const reference = `s2-${randomUUID().slice(0, 8)}`;
  const order = await client.createOrder({ orderId: reference, amount: "20.00", webhookUrl: hookUrl("/seed002") });
  const detail = await client.user(`${base}/checkout/?order_id=${order.order_id}`).createPayment(order.order_id, "eth", "USDT");
  await pay(detail.wallet_address, detail.amount_base_units);
  const hook = await waitForHook((b) => b?.payload?.sessionId === order.order_id && b.type === "payment-authorized");
  const event = client.verifyWebhook(hook.headers, hook.body);
  assert.deepEqual(
    [event.event_type, event.amount, event.merchantOrderId, event.paymentId, event.eventId],
    ["seed002", 2000, reference, order.order_id.replaceAll("-", ""), hook.headers["stablecheckout-event-id"]],
  );
  assert.deepEqual(verifier().verify(hook.headers, hook.body), event);
  assert.throws(() => client.verifyWebhook(hook.headers, Buffer.from(hook.body.toString().replace("2000", "2001"))), /mismatch/);
});

test("Epusdt: create-transaction signed by the SDK, pay, the notify verified by the SDK", { skip }, async () => {
  const token = env.STABLECHECKOUT_EPUSDT_TOKEN;
  const request = {
    order_id: `E${randomUUID().slice(0, 12)}`, amount: 72, trade_type: "usdt.erc20", name: "VIP 月卡",
    notify_url: hookUrl("/epusdt/notify"), redirect_url: "https://shop.test/thanks",
  };
  const response = await fetch(`${BASE}/api/v1/order/create-transaction`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...request, signature: epusdtSign(request, token) }),
  });
  const created = await response.json();
  assert.equal(created.status_code, 200, JSON.stringify(created));
  const { tx } = await payThroughPage(created.data.payment_url);
  const hook = await waitForHook((b) => b?.trade_id === created.data.trade_id);
  const notice = verifyEpusdtNotify(token, hook.body, { eventId: hook.headers["stablecheckout-event-id"] });
  assert.deepEqual(
    [notice.event_type, notice.status, notice.order_id, notice.amount, notice.actual_amount, notice.token],
    ["epusdt", 2, request.order_id, "72", created.data.actual_amount, created.data.token],
  );
  assert.equal(notice.block_transaction_id.toLowerCase(), tx.toLowerCase());
  assert.equal(EPUSDT_ACK, "ok"); // what the endpoint answered, so it is not sent again
  assert.throws(() => verifyEpusdtNotify(SECRET, hook.body), /mismatch/);
});

test("Epay: mapi.php signed by the SDK, pay, the GET notify verified by the SDK", { skip }, async () => {
  const key = env.STABLECHECKOUT_EPAY_KEY;
  const params = {
    pid: env.STABLECHECKOUT_EPAY_PID, type: "alipay", out_trade_no: `P${randomUUID().slice(0, 12)}`,
    notify_url: hookUrl("/epay/notify"), return_url: "https://shop.test/back", name: "Test Item", money: "36.00",
  };
  const form = new URLSearchParams({ ...params, sign: epaySign(params, key), sign_type: "MD5" });
  const created = await (await fetch(`${BASE}/mapi.php`, { method: "POST", body: form })).json();
  assert.equal(created.code, 1, JSON.stringify(created));
  await payThroughPage(created.payurl);
  const hook = await waitForHook((_, r) => r.method === "GET" && r.path.includes(`trade_no=${created.trade_no}`));
  const notice = verifyEpayNotify(key, hook.path, { pid: params.pid });
  assert.deepEqual(
    [notice.event_type, notice.trade_no, notice.out_trade_no, notice.money, notice.type, notice.trade_status],
    ["epay", created.trade_no, params.out_trade_no, "36.00", "alipay", "TRADE_SUCCESS"],
  );
  assert.throws(() => verifyEpayNotify(key, hook.path.replace("36.00", "3.60")), /mismatch/);
  assert.throws(() => verifyEpayNotify(key, hook.path, { pid: "9999" }), /another pid/);
});
