// The webhooks added after Ocrch's two: `payment_exception` and `refund.sent` (Ocrch format and
// Checkout Session event), and the receipt fields `order_status_changed` carries. Bodies are
// built here as the server writes them (compact JSON, Ocrch's `timestamp` last) and signed here.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  WebhookVerificationError,
  WebhookVerifier,
  signBody,
  signSessionWebhook,
  verifyOcrchWebhook,
  verifySessionWebhook,
} from "../dist/index.js";

const K1 = "test-merchant-secret";
const WHSEC = "whsec_" + "z".repeat(40);
const TS = 1711900860;
const ORDER_ID = "0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e";
const TX = "0x" + "ab".repeat(32);
const EXCEPTION = {
  event_type: "payment_exception", order_id: ORDER_ID, merchant_order_id: "ord_123", kind: "overpaid",
  amount: "12.350000", blockchain: "eth", stablecoin: "USDT", tx_hash: TX, timestamp: TS,
};
const REFUND = {
  refund_id: 12, order_id: ORDER_ID, merchant_order_id: "ord_123", kind: "overpaid", amount: "1.500000",
  blockchain: "eth", stablecoin: "USDT", address: "0xAb12000000000000000000000000000000000001",
  tx_hash: "0x" + "cd".repeat(32), evidence: "watcher",
};

test("payment_exception", () => {
  const body = JSON.stringify(EXCEPTION);
  const event = verifyOcrchWebhook(K1, signBody(K1, body, TS), body, { now: TS, eventId: "e7" });
  assert.deepEqual(event, { ...EXCEPTION, eventId: "e7" });
  assert.throws(() => verifyOcrchWebhook("another-secret", signBody(K1, body, TS), body, { now: TS }), /mismatch/);
  const { tx_hash, ...torn } = EXCEPTION;
  const tornBody = JSON.stringify(torn);
  assert.throws(() => verifyOcrchWebhook(K1, signBody(K1, tornBody, TS), tornBody, { now: TS }), (error) => {
    assert.ok(error instanceof WebhookVerificationError);
    assert.match(error.message, /tx_hash/);
    return true;
  });
});

test("refund.sent in the Ocrch format", () => {
  const body = JSON.stringify({ event_type: "refund.sent", ...REFUND, timestamp: TS });
  const event = verifyOcrchWebhook(K1, signBody(K1, body, TS), body, { now: TS, eventId: "e8" });
  assert.deepEqual(event, { event_type: "refund.sent", ...REFUND, timestamp: TS, checkout_session: null, eventId: "e8" });
  const textId = JSON.stringify({ event_type: "refund.sent", ...REFUND, refund_id: "12", timestamp: TS });
  assert.throws(() => verifyOcrchWebhook(K1, signBody(K1, textId, TS), textId, { now: TS }), /refund_id/);
});

test("refund.sent as a Checkout Session event", () => {
  const body = JSON.stringify({
    id: "evt_0190", object: "event", type: "refund.sent", created: TS, livemode: false,
    data: { object: { object: "refund", checkout_session: "cs_test_1", ...REFUND } },
  });
  const header = signSessionWebhook(WHSEC, body, TS);
  const event = verifySessionWebhook(WHSEC, header, body, { now: TS });
  assert.equal(event.event_type, "refund.sent");
  assert.equal(event.checkout_session, "cs_test_1");
  assert.equal(event.eventId, "evt_0190");
  assert.equal(event.timestamp, TS);
  assert.equal(event.amount, "1.500000");
  const verifier = WebhookVerifier.forSecrets({ merchantSecret: K1, sessionWebhookSecret: WHSEC });
  assert.deepEqual(verifier.verify({ "stablecheckout-signature": header }, body, { now: TS }), event);
});

test("order_status_changed carries what the order received", () => {
  const ocrch = { event_type: "order_status_changed", order_id: ORDER_ID, merchant_order_id: "ord_123", status: "paid", amount: "25.00" };
  const body = JSON.stringify({ ...ocrch, amount_received: "25.00", amount_due: "0", payment_exceptions: ["partial"], timestamp: TS });
  const event = verifyOcrchWebhook(K1, signBody(K1, body, TS), body, { now: TS });
  assert.deepEqual(
    [event.amount_received, event.amount_due, event.payment_exceptions],
    ["25.00", "0", ["partial"]],
  );
  const older = JSON.stringify({ ...ocrch, timestamp: TS });
  const before = verifyOcrchWebhook(K1, signBody(K1, older, TS), older, { now: TS });
  assert.deepEqual(Object.keys(before).filter((key) => key.startsWith("amount_") || key === "payment_exceptions"), []);
});

test("a newer event stays unrecognized, not dropped", () => {
  const body = JSON.stringify({ event_type: "refund.failed", refund_id: 3, timestamp: TS });
  const event = verifyOcrchWebhook(K1, signBody(K1, body, TS), body, { now: TS });
  assert.equal(event.event_type, "unrecognized");
  assert.equal(event.type, "refund.failed");
});
