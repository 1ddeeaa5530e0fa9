// The signature test vectors of the Ocrch wire contract (shared/api.md section 8), and the
// session signature scheme, against the built SDK.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  checkoutLink,
  parseOcrchHeader,
  signBody,
  signSessionWebhook,
  signUrl,
  verifyBodySignature,
  verifySessionSignature,
  verifyUrlSignature,
} from "../dist/index.js";

const K1 = "test-merchant-secret";
const K2 = "s3cr3t-KEY-#2";
const OID = "0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e";
const S1_BODY =
  '{"amount":"19.99","expecting_wallet_address":null,"order_id":"ord_123","blockchain":null,' +
  '"stablecoin":null,"webhook_url":"https://shop.example.com/webhooks/ocrch"}';
const S1 = "1711900800.TZ/iv6V357Mmg6M0UqW2H1s5uyfOrPqoGASV35zEAE0";
const S2_BODY = '{"order_id":"0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e"}';
const S2 = "1735689600.v2kIZv3oiskOb1HiEnlktZSvxYrJ0vSTyY9TZ5S/f94";
const U1_URL = `https://checkout.example.com/pay?order_id=${OID}`;
const U1 = "1711900800.aN1ACklfLN73eiQ3RjOuPee+23g1lBVXFlBiu/R7wFY";
const U2_URL = "http://localhost:3000/checkout?order=abc&lang=en";
const U2 = "1735689600.e2OKbYw+F3ZvMGYuTPZRzU/9m2Cx5LhLBohvSJr8CZM";

test("body vectors S1 and S2", () => {
  assert.equal(signBody(K1, S1_BODY, 1711900800), S1);
  assert.equal(signBody(K2, new TextEncoder().encode(S2_BODY), 1735689600), S2);
});

test("URL vectors U1 and U2", () => {
  assert.equal(signUrl(K1, U1_URL, 1711900800), U1);
  assert.equal(signUrl(K2, U2_URL, 1735689600), U2);
  assert.equal(verifyUrlSignature(K1, U1_URL, U1, { now: 1711900800 }), 1711900800);
  assert.throws(() => verifyUrlSignature(K2, U1_URL, U1, { now: 1711900800 }), /mismatch/);
});

test("freshness: 300 s either way", () => {
  assert.equal(verifyBodySignature(K1, S1, S1_BODY, { now: 1711901100 }), 1711900800);
  assert.throws(() => verifyBodySignature(K1, S1, S1_BODY, { now: 1711901101 }), /tolerance/);
  assert.throws(() => verifyBodySignature(K1, S1, S1_BODY, { now: 1711900000 }), /tolerance/);
});

test("negatives", () => {
  assert.throws(() => verifyBodySignature(K1, S1, S1_BODY + " ", { now: 1711900800 }), /mismatch/);
  assert.equal(verifyBodySignature(K1, `${S1}=`, S1_BODY, { now: 1711900800 }), 1711900800);
  assert.throws(() => parseOcrchHeader("1711900800"));
  assert.throws(() => parseOcrchHeader("1711900800.TZ_iv6V357Mmg6M0UqW2H1s5uyfOrPqoGASV35zEAE0"));
  assert.throws(() => verifyBodySignature(K1, undefined, S1_BODY), /missing/);
});

test("checkout link signs the page URL without sig", () => {
  const link = checkoutLink(K1, OID, "https://checkout.example.com/pay", { ts: 1711900800 });
  assert.equal(link, `${U1_URL}&sig=1711900800.aN1ACklfLN73eiQ3RjOuPee%2B23g1lBVXFlBiu%2FR7wFY`);
});

test("session signatures: round trip, rotation, wrong secret, stale", () => {
  const body = '{"id":"evt_1","type":"checkout.session.completed"}';
  const header = signSessionWebhook("whsec_a", body, 1795394311);
  assert.equal(verifySessionSignature("whsec_a", header, body, { now: 1795394311 }), 1795394311);
  assert.equal(verifySessionSignature("whsec_a", `${header},v1=${"0".repeat(64)}`, body, { now: 1795394311 }), 1795394311);
  assert.throws(() => verifySessionSignature("whsec_b", header, body, { now: 1795394311 }), /mismatch/);
  assert.throws(() => verifySessionSignature("whsec_a", header, body, { now: 1795394612 }), /tolerance/);
  assert.throws(() => verifySessionSignature("whsec_a", "v1=ab", body), /not/);
});
