// Webhook verification (the W1/W2 vectors, session events, the format registry), the page
// address split the browser module does, and amounts that are never JS numbers.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  Client,
  WebhookVerificationError,
  WebhookVerifier,
  signBody,
  signSessionWebhook,
  splitSignedUrl,
  verifyOcrchWebhook,
  verifySessionWebhook,
} from "../dist/index.js";
import * as browser from "../dist/browser.js";

const K1 = "test-merchant-secret";
const K2 = "s3cr3t-KEY-#2";
const W1_BODY =
  '{"event_type":"order_status_changed","order_id":"0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e",' +
  '"merchant_order_id":"ord_123","status":"paid","amount":"19.99","timestamp":1711900860}';
const W1 = "1711900860.5VJhXo23uU5B4bAbVHF+wZr7AshYdndRpm7yGLOyCxM";
const W2_BODY =
  '{"event_type":"unknown_transfer_received","transfer_id":42,"blockchain":"erc20:Ethereum","timestamp":1711900900}';
const W2 = "1711900900.WscTKnYI4AXc747WAwAEsXHm219hselvxQKt8r82Nqc";
const SESSION = {
  id: "cs_test_abc", object: "checkout.session", url: null, mode: "payment", status: "complete",
  payment_status: "paid", amount_total: 3998, currency: "usd", line_items: [],
  success_url: "https://shop.example/ok", cancel_url: null, customer_email: null,
  client_reference_id: null, metadata: { order_id: "42" }, order_id: "01a205d4-a9ff-719e-9e4e-013726e61e97",
  livemode: false, created: 1795394152, expires_at: 1795395952, completed_at: 1795394311,
};
const EVENT = JSON.stringify({
  id: "evt_01", object: "event", type: "checkout.session.completed", created: 1795394311,
  livemode: false, data: { object: SESSION },
});

test("W1: order_status_changed", () => {
  const event = verifyOcrchWebhook(K1, W1, Buffer.from(W1_BODY), { now: 1711900860, eventId: "e1" });
  assert.deepEqual(event, {
    event_type: "order_status_changed", order_id: "0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e",
    merchant_order_id: "ord_123", status: "paid", amount: "19.99", timestamp: 1711900860, eventId: "e1",
  });
});

test("W2: unknown_transfer_received", () => {
  const event = verifyOcrchWebhook(K2, W2, W2_BODY, { now: 1711900900 });
  assert.equal(event.event_type, "unknown_transfer_received");
  assert.equal(event.transfer_id, 42);
  assert.equal(event.blockchain, "erc20:Ethereum");
});

test("Ocrch refusals", () => {
  assert.throws(() => verifyOcrchWebhook(K2, W1, W1_BODY, { now: 1711900860 }), WebhookVerificationError);
  assert.throws(() => verifyOcrchWebhook(K1, W1, W1_BODY, { now: 1711901161 }), /tolerance/);
  assert.throws(() => verifyOcrchWebhook(K1, null, W1_BODY), /missing/);
  const partial = '{"event_type":"order_status_changed","order_id":"x"}';
  assert.throws(() => verifyOcrchWebhook(K1, signBody(K1, partial), partial), /merchant_order_id/);
  const unknown = '{"event_type":"something_new"}';
  assert.equal(verifyOcrchWebhook(K1, signBody(K1, unknown), unknown).event_type, "unrecognized");
});

test("session events use their own secret", () => {
  const secret = `whsec_${"x".repeat(40)}`;
  const event = verifySessionWebhook(secret, signSessionWebhook(secret, EVENT), EVENT);
  assert.equal(event.type, "checkout.session.completed");
  assert.equal(event.session.amount_total, 3998);
  assert.throws(() => verifySessionWebhook("a-merchant-secret", signSessionWebhook(secret, EVENT), EVENT), WebhookVerificationError);
});

test("the verifier dispatches on the signature header; formats can be added", () => {
  const secret = `whsec_${"y".repeat(40)}`;
  const verifier = WebhookVerifier.forSecrets({ merchantSecret: K1, sessionWebhookSecret: secret });
  const ocrch = verifier.verify({ "ocrch-signature": W1, "stablecheckout-event-id": "e9" }, W1_BODY, { now: 1711900860 });
  assert.equal(ocrch.eventId, "e9");
  const headers = new Headers({ "Stablecheckout-Signature": signSessionWebhook(secret, EVENT) });
  assert.equal(verifier.verify(headers, EVENT).event_type, "checkout.session");
  assert.throws(() => verifier.verify({ "x-echo": "ok" }, "{}"), /no signature header/);
  verifier.register({
    matches: (h) => "x-echo" in h,
    verify: (_h, body) => ({ event_type: "unrecognized", type: "echo", payload: { body: String(body) }, eventId: null }),
  });
  assert.equal(verifier.verify({ "x-echo": "ok" }, "hi").type, "echo");
});

test("splitSignedUrl keeps every byte but the sig parameter", () => {
  assert.deepEqual(splitSignedUrl("https://p.example/checkout/?order_id=a&lang=de&sig=1.ab%2Bc#x"), {
    signedUrl: "https://p.example/checkout/?order_id=a&lang=de",
    signature: "1.ab+c",
  });
  assert.deepEqual(splitSignedUrl("https://p.example/pay?sig=1.x"), { signedUrl: "https://p.example/pay", signature: "1.x" });
  assert.equal(splitSignedUrl("https://p.example/pay").signature, null);
});

test("the browser module exports no signing (no secret, no node:crypto)", () => {
  assert.equal(typeof browser.UserClient, "function");
  assert.equal("signBody" in browser, false);
  assert.equal("Client" in browser, false);
});

test("amounts are decimal strings, never numbers", async () => {
  const client = new Client("http://127.0.0.1:9", "k");
  await assert.rejects(client.createOrder({ orderId: "a", amount: 19.99, webhookUrl: "https://x" }), TypeError);
  await assert.rejects(client.createOrder({ orderId: "a", amount: "1e3", webhookUrl: "https://x" }), TypeError);
});
