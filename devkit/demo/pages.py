"""HTML and JavaScript of the demo shop and its test wallet (dev mode only)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devkit.demo.routes import DemoShop


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    name: str
    price: str
    blurb: str


DEMO_CURRENCY = "EUR"
"""The demo shop prices in euros, quoted per coin at a fixed rate (no network)."""
DEMO_EUR_PER_USDT = "0.9200"

CATALOG = {
    item.key: item
    for item in (
        Item(
            "tee", "Stablecoin T-shirt", "19.99", "Soft cotton, printed with a QR code that pays."
        ),
        Item("mug", "Confirmation mug", "12.50", "Holds exactly twelve confirmations of coffee."),
        Item("stickers", "Sticker pack", "4.00", "Six stickers for your hardware wallet."),
    )
}

_STYLE = """
:root{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2433;
background:#f5f6f8}
body{margin:0}main{max-width:880px;margin:0 auto;padding:24px 16px}
header{display:flex;justify-content:space-between;align-items:baseline;flex-wrap:wrap;gap:8px}
h1{margin:0;font-size:1.6rem}.note{color:#5b6475;font-size:.9rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:16px;margin:24px 0}
.card{background:#fff;border-radius:12px;padding:18px;box-shadow:0 1px 3px #0002;display:flex;
flex-direction:column;gap:8px}.card h2{margin:0;font-size:1.1rem}
.price{font-weight:700;font-size:1.2rem}
button{font:inherit;background:#2f5bea;color:#fff;border:0;border-radius:8px;padding:10px 14px;
cursor:pointer}button.secondary{background:#fff;color:#2f5bea;border:1px solid #2f5bea}
button:focus-visible{outline:3px solid #9db4ff;outline-offset:2px}
.banner{background:#e6f6ec;border:1px solid #9bd3ae;border-radius:8px;padding:12px;margin-top:16px}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:12px;overflow:hidden}
td,th{padding:8px 10px;border-bottom:1px solid #eee;text-align:left;font-size:.9rem}
"""


def shop_page(shop: DemoShop) -> str:
    cards = "".join(
        f"""<form class="card" method="post" action="/demo/buy">
<h2>{html.escape(item.name)}</h2><p class="note">{html.escape(item.blurb)}</p>
<div class="price">{item.price} {DEMO_CURRENCY}</div>
<input type="hidden" name="item" value="{item.key}">
<button type="submit" data-testid="buy-{item.key}">Buy with stablecoins</button>
<label class="note">API <select name="dialect" data-testid="dialect-{item.key}">
<option value="stablecheckout">stablecheckout</option>
<option value="opencheckout">OpenCheckout</option><option value="ovgc">OVGC</option></select>
</label>
<button type="submit" formaction="/demo/buy-session" data-testid="buy-session-{item.key}"
 class="secondary">Buy via Checkout Session</button></form>"""
        for item in CATALOG.values()
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Demo shop</title>
<style>{_STYLE}</style></head><body><main>
<header><h1>Demo shop</h1><span class="note">stablecheckout dev · local chain (anvil) ·
test wallet {html.escape(shop.payer[:10])}…</span></header>
<div id="paid" class="banner" hidden role="status"></div>
<div class="grid">{cards}</div>
<form method="post" action="/demo/donate"><p class="note">Checkout Sessions (the hosted flow,
docs/checkout-sessions.md): a session with the demo's test API key, then its <code>url</code>.
<button type="submit" class="secondary" data-testid="donate">Donate any amount</button></p></form>
<section id="tron" hidden><h2>Test wallets</h2>
<p class="note">Payments chosen at checkout and not paid yet. A local chain's test wallet pays
them here (on Solana with the deposit's Solana Pay reference; on Ethereum the checkout page's
"Pay with browser wallet" does it too), or gets it wrong the way real shoppers do:
<b>pay short</b> sends less (an exchange's fee: the order is partly paid and the checkout page
asks for the rest), <b>pay twice</b> sends the amount twice (the second is a duplicate, listed for
refund), <b>pay late</b> lets the order expire, then pays (late: reported, listed for refund).
The webhooks below show each <code>payment_exception</code>.</p>
<p class="note" id="wallet-result" role="status"></p>
<table><tbody id="tron-rows"></tbody></table></section>
<h2>Webhooks this shop received</h2>
<p class="note">Each is verified with the merchant secret, as docs/webhooks.md shows.</p>
<table><thead><tr><th>event</th><th>order</th><th>status</th><th>amount</th><th>signature</th>
</tr></thead><tbody id="hooks"><tr><td colspan="5">none yet</td></tr></tbody></table>
</main><script>
const paid = new URLSearchParams(location.search).get("paid");
if (paid) {{ const b = document.getElementById("paid"); b.hidden = false;
  b.textContent = "Thank you! Your " + paid + " is paid."; }}
async function hooks() {{
  const rows = await (await fetch("/demo/webhooks.json")).json();
  if (!rows.length) return;
  const tbody = document.getElementById("hooks"); tbody.textContent = "";
  for (const h of rows) {{
    const tr = document.createElement("tr");
    const b = h.body, flags = (b.payment_exceptions || []).join(", ");
    for (const v of [b.event_type, b.merchant_order_id || b.transfer_id,
                     b.kind || (b.status && flags ? b.status + " (" + flags + ")" : b.status) ||
                       b.blockchain,
                     (b.amount || "") + (b.kind && b.stablecoin ? " " + b.stablecoin : ""),
                     h.valid ? "valid" : "INVALID"]) {{
      const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); }}
    tbody.appendChild(tr);
  }}
}}
let sending = 0;
const WAYS = [["exact", "Pay from test wallet"], ["short", "pay short"], ["twice", "pay twice"],
              ["late", "pay late"]];
async function tron() {{
  const rows = await (await fetch("/demo/payments")).json();
  const tbody = document.getElementById("tron-rows");
  if (sending) return;  // keep the rows as they are while a payment is being sent
  tbody.textContent = "";
  document.getElementById("tron").hidden = !rows.length;
  for (const r of rows) {{
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    const coin = r.coin || "USDT", chain = r.blockchain || "tron";
    td.textContent = r.amount + " " + coin + " on " + chain + " to " + r.to +
      " (order " + r.order_id.slice(0, 8) + "…)";
    const act = document.createElement("td");
    for (const [way, label] of WAYS) {{
      const b = document.createElement("button");
      b.type = "button";
      b.className = way === "exact" ? "" : "secondary";
      b.textContent = way === "exact" ? "Pay from " + chain.toUpperCase() + " test wallet" : label;
      b.dataset.testid = way === "exact" ? chain + "-pay" : "pay-" + way;
      b.onclick = async () => {{
        sending++; b.disabled = true;
        b.textContent = way === "late" ? "expiring, then paying…" : "sending…";
        const result = document.getElementById("wallet-result");
        try {{
          const answer = await fetch("/demo/test-pay", {{
            method: "POST", headers: {{"Content-Type": "application/json"}},
            body: JSON.stringify({{deposit_id: r.deposit_id, way}}) }});
          result.textContent = answer.ok
            ? label + ": sent " + (await answer.json()).amounts.join(" + ") + " " + coin +
              " on " + chain + " for order " + r.order_id.slice(0, 8) + "…"
            : label + " failed: " + (await answer.text());
        }} finally {{ sending--; }}
      }};
      act.append(b, " ");
    }}
    tr.append(td, act); tbody.appendChild(tr);
  }}
}}
hooks(); tron(); setInterval(hooks, 2000); setInterval(tron, 2000);
</script></body></html>"""


def wallet_script(shop: DemoShop) -> str:
    """An EIP-1193 provider that pays from the funded anvil account (injected by `dev` only)."""
    return f"""// stablecheckout dev: a test wallet backed by a funded account on the local chain.
(() => {{
  const payer = {json.dumps(shop.payer)};
  async function request({{ method, params }}) {{
    const response = await fetch("/demo/rpc", {{
      method: "POST", headers: {{ "Content-Type": "application/json" }},
      body: JSON.stringify({{ method, params }}),
    }});
    const answer = await response.json();
    if (answer.error) {{
      const error = new Error(answer.error.message); error.code = answer.error.code; throw error;
    }}
    return answer.result;
  }}
  window.ethereum = {{ isStablecheckoutTestWallet: true, selectedAddress: payer, request,
                       on() {{}}, removeListener() {{}} }};
  document.addEventListener("DOMContentLoaded", () => {{
    const badge = document.createElement("div");
    badge.textContent = "Test wallet " + payer.slice(0, 8) + "… (local chain)";
    badge.style.cssText = "position:fixed;bottom:8px;left:8px;font:12px system-ui;" +
      "background:#fff3cd;border:1px solid #e0c36b;border-radius:6px;padding:4px 8px;z-index:9";
    document.body.appendChild(badge);
  }});
}})();
"""
