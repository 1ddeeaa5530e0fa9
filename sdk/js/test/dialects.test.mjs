// The dialects' webhooks: the shared vectors (sdk/vectors/webhooks.json, the same the Python SDK
// checks), the refusals of each scheme, and the verifier choosing the format by its header.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  WebhookVerificationError,
  WebhookVerifier,
  epaySign,
  epusdtSign,
  renderNumber,
  signBody,
  signOvgc,
  signSeed002,
  signTV1,
  verifyEpayNotify,
  verifyEpusdtNotify,
  verifyOpenCheckoutWebhook,
  verifyOvgcWebhook,
  verifySeed002Callback,
} from "../dist/index.js";

const VECTORS = JSON.parse(readFileSync(new URL("../../vectors/webhooks.json", import.meta.url), "utf8"));
const { opencheckout: OC, ovgc: OV, seed002: S2 } = VECTORS;
const refused = (pattern) => (error) => error instanceof WebhookVerificationError && pattern.test(error.message);

test("OpenCheckout vector", () => {
  const body = Buffer.from(OC.body, "utf8");
  const header = OC.headers["OpenCheckout-Signature"];
  const event = verifyOpenCheckoutWebhook(OC.secret, header, body, { now: OC.now, eventId: "e1" });
  assert.equal(event.event_type, "opencheckout");
  assert.deepEqual([event.type, event.status, event.metadata.order_id], ["checkout.session.completed", "completed", "42"]);
  assert.equal(event.session.amount_total, 3998);
  assert.equal(event.session.metadata.note, "café");
  assert.equal(event.eventId, "e1");
  assert.equal(verifyOpenCheckoutWebhook(OC.secret, header, OC.body, { now: OC.now }).id, event.id);
  assert.throws(() => verifyOpenCheckoutWebhook("whsec_other", header, body, { now: OC.now }), refused(/mismatch/));
  assert.throws(() => verifyOpenCheckoutWebhook(OC.secret, header, OC.body.replace('"42"', '"43"'), { now: OC.now }), refused(/mismatch/));
  assert.throws(() => verifyOpenCheckoutWebhook(OC.secret, header, body, { now: OC.now + 301 }), refused(/tolerance/));
  assert.throws(() => verifyOpenCheckoutWebhook(OC.secret, null, body), refused(/missing OpenCheckout-Signature/));
  assert.throws(() => verifyOpenCheckoutWebhook(OC.secret, header.split(",")[1], body), refused(/not `t=/));
});

test("OVGC vector", () => {
  const { "X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig } = OV.headers;
  const event = verifyOvgcWebhook(OV.secret, ts, sig, OV.body, { now: OV.now });
  assert.equal(event.type, "payment.succeeded");
  assert.deepEqual([event.data.amount, event.data.status, event.data.email], [2500, "completed", "customer@example.com"]);
  assert.throws(() => verifyOvgcWebhook(OV.secret, "1795394312", sig, OV.body, { now: OV.now }), refused(/mismatch/));
  assert.throws(() => verifyOvgcWebhook(OV.secret, ts, sig, OV.body, { now: OV.now - 301 }), refused(/tolerance/));
  assert.throws(() => verifyOvgcWebhook(OV.secret, null, sig, OV.body, { now: OV.now }), refused(/X-Webhook-Timestamp/));
  assert.throws(() => verifyOvgcWebhook(OV.secret, ts, sig.slice(7), OV.body, { now: OV.now }), refused(/sha256=/));
});

test("seed 002 vector is the seed's own example", () => {
  const header = S2.headers.Authorization;
  const event = verifySeed002Callback(S2.secret, header, S2.body);
  assert.deepEqual(event, {
    event_type: "seed002", type: "payment-authorized", amount: 2000, paymentId: "e7dbc6b9fc2542c69eb53f9e9b978294",
    sessionId: "4e0d7dd3c12441fba02981f60732a13f", merchantOrderId: null, eventId: null,
  });
  assert.throws(() => verifySeed002Callback(S2.secret, header, S2.body.replace("2000", "20000")), refused(/mismatch/));
  assert.throws(() => verifySeed002Callback(S2.secret, header.replace("HMAC-SHA256", "HMAC-MD5"), S2.body), refused(/HMAC-SHA256 Signature=/));
  assert.throws(() => verifySeed002Callback(S2.secret, undefined, S2.body), refused(/missing Authorization/));
});

test("Epusdt notify vector E2", () => {
  const { token, body } = VECTORS.epusdt_notify;
  const notice = verifyEpusdtNotify(token, Buffer.from(body), { eventId: "e2" });
  assert.deepEqual([notice.event_type, notice.status, notice.amount, notice.actual_amount, notice.trade_id], ["epusdt", 2, "72", "10.01", "k3Jd9QpLx2VbN7s1Ty"]);
  assert.equal(verifyEpusdtNotify(token, body.replace('"amount":72', '"amount":72.0')).amount, "72");
  assert.throws(() => verifyEpusdtNotify("another_token", body), refused(/mismatch/));
  assert.throws(() => verifyEpusdtNotify(token, body.replace("10.01", "100.01")), refused(/mismatch/));
  const unsigned = JSON.parse(body);
  delete unsigned.signature;
  assert.throws(() => verifyEpusdtNotify(token, JSON.stringify(unsigned)), refused(/missing signature/));
  const nested = JSON.stringify({ ...unsigned, extra: [1], signature: "0".repeat(32) });
  assert.throws(() => verifyEpusdtNotify(token, nested), refused(/array or object/));
});

test("Epay notify vector P2, in every shape a server gives", () => {
  const { key, query } = VECTORS.epay_notify;
  const shapes = [query, `/epay/notify?${query}`, `https://shop.example.com/epay/notify?${query}`, new URLSearchParams(query), Object.fromEntries(new URLSearchParams(query))];
  for (const given of shapes) {
    const notice = verifyEpayNotify(key, given, { pid: "1000" });
    assert.deepEqual([notice.event_type, notice.name, notice.money, notice.out_trade_no, notice.trade_status], ["epay", "Test Item", "36.00", "EP20261122001", "TRADE_SUCCESS"]);
  }
  assert.throws(() => verifyEpayNotify(key, query.replace("36.00", "3600.00")), refused(/mismatch/));
  assert.throws(() => verifyEpayNotify(key, query, { pid: "1001" }), refused(/another pid/));
  assert.throws(() => verifyEpayNotify(key, `${query}&money=1.00`), refused(/twice/));
  assert.throws(() => verifyEpayNotify(key, query.split("&sign=")[0]), refused(/missing sign/));
});

test("request signatures of the MD5 dialects; numbers rendered as Epusdt signs them", () => {
  for (const v of VECTORS.epusdt_requests) assert.equal(epusdtSign(v.params, v.token), v.signature);
  for (const v of VECTORS.epay_requests) assert.equal(epaySign(v.params, v.key), v.sign);
  assert.deepEqual([72.0, 1e-5, 1e6, 0.1 + 0.2, 7, 1.5e-7, 1e21].map(renderNumber), [
    "72", "0.00001", "1000000", "0.30000000000000004", "7", "0.00000015", "1000000000000000000000",
  ]);
});

test("the verifier picks each format by its header", () => {
  const merchant = "m".repeat(40), oc = `whsec_${"o".repeat(40)}`, ovgc = `whsec_${"v".repeat(40)}`;
  const verifier = WebhookVerifier.forSecrets({ merchantSecret: merchant, openCheckoutSecret: oc, ovgcSecret: ovgc });
  assert.equal(verifier.verify({ "opencheckout-signature": signTV1(oc, OC.body) }, OC.body).event_type, "opencheckout");
  assert.equal(verifier.verify(new Headers(signOvgc(ovgc, OV.body)), OV.body).event_type, "ovgc");
  const seed = verifier.verify({ Authorization: signSeed002(merchant, S2.body), "Stablecheckout-Event-Id": "e7" }, S2.body);
  assert.deepEqual([seed.event_type, seed.eventId], ["seed002", "e7"]);
  const ocrch = '{"event_type":"order_status_changed","order_id":"o","merchant_order_id":"m","status":"paid","amount":"1.00","timestamp":1}';
  assert.equal(verifier.verify({ "Ocrch-Signature": signBody(merchant, ocrch, 1) }, ocrch, { now: 1 }).event_type, "order_status_changed");
  assert.throws(() => verifier.verify({ authorization: "Bearer sk_live_x" }, S2.body), refused(/no signature header/));
  assert.throws(() => verifier.verify(signOvgc(oc, OV.body), OV.body), refused(/mismatch/));
});
