"""The few server-rendered pages of a session link: a donation's amount form and the dead ends.

Everything else happens on the hosted checkout page (`frontend/`), which the link redirects to.
"""

from __future__ import annotations

import html

from app.sessions.models import CheckoutSession
from app.sessions.schemas import MAX_AMOUNT_CENTS
from app.sessions.validation import DEFAULT_DONATION_MIN, cents_text

STYLE = """
:root{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#18202f;
background:#f3f5f9}@media (prefers-color-scheme:dark){:root{color:#e8ecf3;background:#0f131a}
.card{background:#181e28!important}input{background:#0f131a;color:#e8ecf3}}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center}
.card{background:#fff;border-radius:16px;box-shadow:0 8px 24px #1018281a;padding:28px;
width:min(420px,calc(100vw - 32px))}h1{font-size:1.3rem;margin:0 0 6px}
p{color:#5b6475;margin:0 0 16px}label{display:block;font-weight:600;margin-bottom:6px}
.field{display:flex;align-items:center;gap:8px;border:1px solid #dfe3ea;border-radius:10px;
padding:0 12px}.field span{color:#5b6475}input{font:inherit;font-size:1.4rem;border:0;
outline:0;padding:10px 0;width:100%;background:transparent;color:inherit}
.field:focus-within{outline:3px solid #2f5bea;outline-offset:1px}
button{font:inherit;font-weight:600;width:100%;margin-top:16px;background:#2f5bea;color:#fff;
border:0;border-radius:10px;padding:12px;cursor:pointer}
button:focus-visible{outline:3px solid #9db4ff;outline-offset:2px}
.error{color:#c0352b;margin:8px 0 0}a{color:#2f5bea}.hint{font-size:.9rem;margin-top:8px}
"""


def _page(title: str, body: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body><main class="card">{body}</main></body></html>"""


def _back(checkout: CheckoutSession | None) -> str:
    if checkout is None or not checkout.cancel_url:
        return ""
    url = html.escape(checkout.cancel_url.replace("{CHECKOUT_SESSION_ID}", checkout.id))
    return f'<p class="hint"><a href="{url}" data-testid="back">Back to the shop</a></p>'


def donation_form(
    checkout: CheckoutSession, merchant: str, error: str | None = None, entered: str | None = None
) -> str:
    low = checkout.amount_min or DEFAULT_DONATION_MIN
    high = checkout.amount_max or MAX_AMOUNT_CENTS
    items = checkout.line_items or []
    name = "Donation"
    suggested = ""
    if items:
        name = str(items[0]["price_data"]["product_data"]["name"])
        preset = int(items[0]["price_data"]["unit_amount"])
        suggested = cents_text(preset) if preset else ""
    if entered is not None:
        suggested = entered
    problem = (
        f'<p class="error" role="alert" data-testid="amount-error">{html.escape(error)}</p>'
        if error
        else ""
    )
    limits = f"Between {cents_text(low)} and {cents_text(high)} USD, paid in USD stablecoins."
    body = f"""<h1>{html.escape(name)}</h1><p>{html.escape(merchant)}</p>
<form method="post" novalidate><label for="amount">Amount (USD)</label>
<div class="field"><span aria-hidden="true">$</span><input id="amount" name="amount"
 inputmode="decimal" autocomplete="off" required value="{html.escape(suggested)}"
 aria-describedby="limits" data-testid="donation-amount"></div>
<p id="limits" class="hint">{html.escape(limits)}</p>{problem}
<button type="submit" data-testid="donation-continue">Continue to payment</button></form>
{_back(checkout)}"""
    return _page(name, body)


def ended(checkout: CheckoutSession) -> str:
    text = {
        "expired": "This checkout has expired.",
        "canceled": "This checkout was canceled.",
        "complete": "This checkout is complete.",
    }.get(checkout.status, "This checkout is closed.")
    return _page(
        "Checkout closed",
        f'<h1 data-testid="session-status">{html.escape(text)}</h1>'
        f"<p>Nothing was charged here.</p>{_back(checkout)}"
        if checkout.status != "complete"
        else f'<h1 data-testid="session-status">{html.escape(text)}</h1>{_back(checkout)}',
    )


def not_found() -> str:
    return _page(
        "Checkout not found",
        '<h1 data-testid="session-status">This checkout link is not valid.</h1>'
        "<p>Go back to the shop and start the checkout again.</p>",
    )
