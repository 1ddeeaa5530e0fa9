"""The refund claim page (server-rendered, English): the form, the confirmation, and the ends.

Every value shown comes from the database or the shopper's own input and is HTML-escaped; the
only asset is the one inline stylesheet that the page's Content-Security-Policy hashes
(`app.security.headers.inline_style_csp`).
"""

from __future__ import annotations

import html

from app.money import format_base_units
from app.refunds.models import RefundItem
from app.sessions.pages import STYLE as SESSION_STYLE

STYLE = SESSION_STYLE + (
    ".addr{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.95rem;word-break:break-all;"
    "background:#eef1f6;border-radius:8px;padding:10px;margin:0 0 12px}"
    "input.text{font-size:1rem}.warn{color:#8a5a00;font-size:.9rem}"
    "button.secondary{background:transparent;color:#2f5bea;border:1px solid #dfe3ea;margin-top:8px}"
    "@media (prefers-color-scheme:dark){.addr{background:#0f131a}.warn{color:#e0b050}}"
)

NETWORKS = {
    "eth": "Ethereum",
    "polygon": "Polygon",
    "base": "Base",
    "arb": "Arbitrum One",
    "op": "Optimism",
    "linea": "Linea",
    "avaxc": "Avalanche C-Chain",
    "tron": "TRON",
    "bsc": "BNB Smart Chain",
    "solana": "Solana",
}

WHY = {
    "overpaid": "You paid more than the order's price; this is the difference.",
    "duplicate": "The order had already been paid; this is the repeated payment.",
    "late": "This payment arrived after the order had ended.",
    "expired_partial": "The order expired before it was paid in full; this is what arrived.",
    "unattributed": "This payment could not be matched to an order.",
}


def _e(value: object) -> str:
    return html.escape(str(value))


def _page(title: str, body: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">
<title>{_e(title)}</title><style>{STYLE}</style></head>
<body><main class="card">{body}</main></body></html>"""


def amount_text(item: RefundItem) -> str:
    return f"{format_base_units(item.amount, item.decimals)} {item.token}"


def network(item: RefundItem) -> str:
    return NETWORKS.get(item.blockchain, item.blockchain)


def _head(item: RefundItem, merchant: str) -> str:
    return (
        f'<h1>Refund of <span data-testid="refund-amount">{_e(amount_text(item))}</span></h1>'
        f"<p>{_e(merchant)} · {_e(network(item))}. {_e(WHY.get(item.kind, ''))}</p>"
    )


def claim_form(item: RefundItem, merchant: str, error: str | None = None, entered: str = "") -> str:
    problem = (
        f'<p class="error" role="alert" data-testid="address-error">{_e(error)}</p>'
        if error
        else ""
    )
    body = f"""{_head(item, merchant)}
<form method="post" novalidate><label for="address">Your {_e(item.token)} address on
{_e(network(item))}</label><div class="field"><input class="text" id="address" name="address"
 autocomplete="off" spellcheck="false" required value="{_e(entered)}" aria-describedby="hint"
 data-testid="refund-address"></div>{problem}
<p id="hint" class="hint">The payment came from <span class="addr-inline">{_e(item.sender_address)}
</span>. If that is an exchange, do not enter it: enter an address you control that accepts
{_e(item.token)} on {_e(network(item))}.</p>
<button type="submit" data-testid="refund-continue">Continue</button></form>"""
    return _page("Claim your refund", body)


def confirm(item: RefundItem, merchant: str, address: str) -> str:
    body = f"""{_head(item, merchant)}
<p>The refund will be sent to this address on {_e(network(item))}:</p>
<p class="addr" data-testid="refund-confirm-address">{_e(address)}</p>
<p class="warn">Check every character: a transfer to a wrong address cannot be recovered.</p>
<form method="post"><input type="hidden" name="address" value="{_e(address)}">
<input type="hidden" name="confirm" value="yes">
<button type="submit" data-testid="refund-confirm">Confirm this address</button></form>
<form method="post"><input type="hidden" name="address" value="{_e(address)}">
<input type="hidden" name="edit" value="yes"><button type="submit" class="secondary"
 data-testid="refund-edit">Change the address</button></form>"""
    return _page("Confirm your refund address", body)


def claimed(item: RefundItem, merchant: str, just_now: bool) -> str:
    lead = "Thank you." if just_now else "This refund has already been claimed."
    body = f"""<h1 data-testid="refund-status">{_e(lead)}</h1>
<p>{_e(merchant)} will send {_e(amount_text(item))} on {_e(network(item))} to:</p>
<p class="addr" data-testid="refund-claimed-address">{_e(item.claim_address or "")}</p>
<p class="hint">Nothing else is needed from you: the shop sends it from its own wallet and can
show you the transaction.</p>"""
    return _page("Refund claimed", body)


def sent(item: RefundItem, merchant: str) -> str:
    body = f"""<h1 data-testid="refund-status">This refund has been sent.</h1>
<p>{_e(merchant)} sent {_e(amount_text(item))} on {_e(network(item))} to:</p>
<p class="addr">{_e(item.claim_address or "")}</p>
<p class="hint">Transaction: <span class="addr-inline">{_e(item.refund_tx_hash or "")}</span></p>"""
    return _page("Refund sent", body)


def refused(expired: bool) -> str:
    if expired:
        return _page(
            "Refund link expired",
            '<h1 data-testid="refund-status">This refund link has expired.</h1>'
            "<p>Ask the shop for a new link.</p>",
        )
    return _page(
        "Refund link not valid",
        '<h1 data-testid="refund-status">This refund link is not valid.</h1>'
        "<p>Open the link exactly as the shop sent it, or ask the shop for a new one.</p>",
    )
