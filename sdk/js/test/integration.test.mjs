// The SDK against a real `stablecheckout serve` and a payment on anvil. Run by
// tests/sdk/test_js_sdk.py, which starts the stack and passes it in STABLECHECKOUT_* variables;
// skipped (with the reason) when they are absent.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";

import {
  ApiError,
  Client,
  SessionsClient,
  UserClient,
  WebhookVerificationError,
  WebhookVerifier,
  verifySessionWebhook,
} from "../dist/index.js";
import { BASE, SECRET, env, hookUrl, listen, pay as payTo, skip, waitForHook } from "./stack.mjs";

let hookServer;
before(async () => {
  if (!skip) hookServer = await listen();
});
after(() => hookServer?.close());

const pay = (detail) => payTo(detail.wallet_address, detail.amount_base_units);

test("order loop: create, link, pay on anvil, live update, webhook verified", { skip }, async () => {
  const client = new Client(BASE, SECRET);
  const reference = `sdk-js-${randomUUID().slice(0, 8)}`;
  const order = await client.createOrder({ orderId: reference, amount: "8.25", webhookUrl: hookUrl(), idempotencyKey: reference });
  const again = await client.createOrder({ orderId: reference, amount: "8.25", webhookUrl: hookUrl(), idempotencyKey: reference });
  assert.equal(order.status, "pending");
  assert.equal(again.order_id, order.order_id);

  // The custom page: built from the link the backend redirected to (signature in `sig`).
  const page = UserClient.fromPage(BASE, client.checkoutLink(order.order_id));
  assert.equal(page.signedUrl, `${BASE}/checkout/?order_id=${order.order_id}`);
  const [pair] = await page.chains();
  const detail = await page.createPayment(order.order_id, pair.blockchain, pair.stablecoin);
  assert.equal(detail.amount, "8.25");
  const seen = [];
  let live = false;
  const watch = page.watch(order.order_id, (o) => seen.push(o.status), { pollMs: 500, onLink: (up) => { live ||= up; } });
  await new Promise((r) => setTimeout(r, 300));
  await pay(detail);
  const final = await watch.done;
  assert.equal(final.status, "paid");
  assert.equal(seen.at(-1), "paid");
  assert.equal(live, typeof WebSocket === "function", "live updates flow over the socket when one exists");

  const hook = await waitForHook((b) => b?.order_id === order.order_id && b.status === "paid");
  const verifier = WebhookVerifier.forSecrets({ merchantSecret: SECRET });
  const event = verifier.verify(hook.headers, hook.body);
  assert.equal(event.event_type, "order_status_changed");
  assert.equal(event.merchant_order_id, reference);
  assert.equal(event.amount, "8.25");
  assert.equal(event.eventId, hook.headers["stablecheckout-event-id"]);
  assert.deepEqual(client.verifyWebhook(hook.headers, hook.body), event);
  assert.throws(() => verifier.verify(hook.headers, Buffer.from(hook.body.toString().replace("8.25", "9.25"))), WebhookVerificationError);
  assert.equal((await client.getOrder(order.order_id)).status, "paid");
  await assert.rejects(page.cancel(order.order_id), (e) => e instanceof ApiError && e.status === 409 && e.text === "order is not pending");
});

test("polling fallback follows a cancel; server errors carry status and text", { skip }, async () => {
  const client = new Client(BASE, SECRET);
  const order = await client.createOrder({ orderId: `sdk-js-${randomUUID().slice(0, 8)}`, amount: "1.5", webhookUrl: hookUrl() });
  const page = client.user(`${BASE}/checkout/?order_id=${order.order_id}`, { WebSocket: null });
  const watch = page.watch(order.order_id, () => undefined, { pollMs: 200 });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await page.cancel(order.order_id)).status, "cancelled");
  assert.equal((await watch.done).status, "cancelled");

  await assert.rejects(client.getOrder(randomUUID()), (e) => e.status === 404 && e.text === "order not found");
  const forged = new Client(BASE, `not-the-merchant-secret-${"x".repeat(20)}`);
  await assert.rejects(forged.getOrder(order.order_id), (e) => e.status === 401 && e.text === "signature verification failed");
  const stale = new UserClient(BASE, page.signedUrl, "1000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  await assert.rejects(stale.status(order.order_id), (e) => e.status === 401 && e.text === "signature verification failed");
});

test("Checkout Session loop: create, pay its order, completed event verified with the whsec_ secret", { skip }, async () => {
  const sessions = new SessionsClient(BASE, env.STABLECHECKOUT_API_KEY);
  const cart = {
    line_items: [{ price_data: { currency: "usd", product_data: { name: "Mug" }, unit_amount: 1250 }, quantity: 1 }],
    success_url: "https://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
    metadata: { order_id: "77" },
  };
  const session = await sessions.create(cart, { idempotencyKey: randomUUID() });
  assert.equal(session.status, "open");
  assert.equal(session.amount_total, 1250);
  assert.ok((await sessions.list({ limit: 5 })).data.some((s) => s.id === session.id));

  const client = new Client(BASE, SECRET);
  const detail = await client.user(`${BASE}/checkout/?order_id=${session.order_id}`).createPayment(session.order_id, "eth", "USDT");
  assert.equal(detail.amount, "12.50");
  await pay(detail);
  const hook = await waitForHook((b) => b?.type === "checkout.session.completed" && b.data.object.id === session.id);
  const event = verifySessionWebhook(env.STABLECHECKOUT_WEBHOOK_SECRET, hook.headers["stablecheckout-signature"], hook.body);
  assert.equal(event.session.status, "complete");
  assert.deepEqual(event.session.metadata, { order_id: "77" });
  assert.throws(() => verifySessionWebhook(SECRET, hook.headers["stablecheckout-signature"], hook.body), WebhookVerificationError);
  assert.equal((await sessions.retrieve(session.id)).payment_status, "paid");

  const other = await sessions.create(cart);
  assert.equal((await sessions.expire(other.id)).status, "expired");
  await assert.rejects(sessions.expire(other.id), (e) => e.status === 400 && e.type === "invalid_request_error");
  await assert.rejects(sessions.create({ ...cart, mode: "subscription" }), (e) => e.status === 400 && e.param === "mode");
  const unknown = new SessionsClient(BASE, `sk_test_${"0".repeat(40)}`);
  await assert.rejects(unknown.retrieve(session.id), (e) => e.status === 401 && e.type === "authentication_error");
});
