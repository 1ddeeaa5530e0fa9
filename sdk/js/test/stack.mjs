// What the integration suites share: the merchant's webhook endpoint (a Node HTTP server on the
// port the server was told), the stack handed over by tests/sdk/test_js_sdk.py in STABLECHECKOUT_*
// variables, and the shopper's wallet on anvil. Not a test file (package.json runs *.test.mjs).
import { createServer } from "node:http";

export const env = process.env;
export const skip = env.STABLECHECKOUT_URL ? false : "set STABLECHECKOUT_URL (tests/sdk/test_js_sdk.py does)";
export const BASE = env.STABLECHECKOUT_URL;
export const SECRET = env.STABLECHECKOUT_SECRET;
const HOOK_PORT = Number(env.STABLECHECKOUT_HOOK_PORT);

/** Every request the server sent us: method, path with query, headers, raw body. */
export const received = [];

/** Listen as the merchant does; every request is answered 200 `ok` (what every format takes as delivered). */
export async function listen() {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
    });
  });
  await new Promise((resolve) => server.listen(HOOK_PORT, "127.0.0.1", resolve));
  return server;
}

export const hookUrl = (path = "/hooks") => `http://127.0.0.1:${HOOK_PORT}${path}`;

function json(body) {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return null;
  }
}

/** The first request for which `predicate(parsed JSON body or null, request)` holds. */
export async function waitForHook(predicate, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const hit = received.find((r) => predicate(json(r.body), r));
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no matching webhook within ${timeoutMs} ms`);
}

async function rpc(method, params) {
  const response = await fetch(env.STABLECHECKOUT_ANVIL_URL, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const answer = await response.json();
  if (answer.error) throw new Error(`${method}: ${JSON.stringify(answer.error)}`);
  return answer.result;
}

/** The shopper's wallet: ERC-20 `transfer(to, baseUnits)` from an unlocked anvil account; the tx hash. */
export async function pay(to, baseUnits) {
  const address = to.slice(2).toLowerCase().padStart(64, "0");
  const value = BigInt(baseUnits).toString(16).padStart(64, "0");
  const hash = await rpc("eth_sendTransaction", [
    { from: env.STABLECHECKOUT_PAYER, to: env.STABLECHECKOUT_TOKEN, data: `0xa9059cbb${address}${value}` },
  ]);
  await rpc("anvil_mine", ["0x2"]);
  return hash;
}
