"""Benchmark: the hosted checkout page's first-load weight, and how fast it shows a final state
(issue 8).

    uv run python bench/page_weight.py              # 10 paid runs, 10 cancel runs (~1-2 min)
    uv run python bench/page_weight.py --runs 3     # quicker

Everything is real: anvil with TestUSDT (npm), one `stablecheckout serve` process with its
watchers on a fresh SQLite file (or --database-url), and Debian's chromium through Playwright.

Weight: a fresh browser context (empty cache) opens a signed checkout link; every response the
page causes until the chain/coin options are shown is summed as it crossed the wire (body bytes
as served, i.e. compressed if the server compressed it, plus headers separately). Then the
payment step (payment POST + QR code) is added. Target: first load <= 100 KB.

Paid latency: for each run the page is open on the payment step, the payer sends the exact amount
on anvil and one more block is mined, so the server's watcher commits `paid` (that transaction
stamps `orders.paid_at`). The page side is stamped in the browser when the status element turns
`paid` (a MutationObserver; and the next animation frame, i.e. painted). Latency = page stamp -
`paid_at`, both on this machine's clock. `paid_at` is taken inside the committing transaction,
just before the commit, so the figure includes the commit itself. Target: p50 <= 300 ms.

Cancel latency, for comparison: the page is open on the payment step and another process cancels
the order through the User API; latency = page stamp - `orders.updated_at` of that transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
import tomlkit  # noqa: E402
from playwright.async_api import Browser, Page, async_playwright, expect  # noqa: E402
from web3 import AsyncHTTPProvider, AsyncWeb3  # noqa: E402

from app.db import create_engine  # noqa: E402
from app.models import Order  # noqa: E402
from app.security.signatures import sign_body, sign_url  # noqa: E402
from devkit.chain.anvil import (  # noqa: E402
    ANVIL_ACCOUNTS,
    AnvilProcess,
    deploy_token,
    find_anvil,
    mine,
    transfer_tokens,
)
from devkit.harness import AppProcess, free_port  # noqa: E402

CHROMIUM = Path(os.environ.get("STABLECHECKOUT_CHROMIUM", "/usr/lib/chromium/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SECRET = "bench-merchant-Hk4Qz8Lw2Xr6Nv0Jt5Mc9Pb"
PAYER, WALLET = ANVIL_ACCOUNTS[1], ANVIL_ACCOUNTS[5]
FRONTEND = ROOT / "frontend"

STAMPS = """
window.__stamps = {};
new MutationObserver(() => {
  const el = document.querySelector('[data-testid="status"]');
  const word = el && el.dataset.status;
  if (!word || window.__stamps[word]) return;
  const dom = performance.timeOrigin + performance.now();
  window.__stamps[word] = { dom };
  requestAnimationFrame(() => {
    window.__stamps[word].frame = performance.timeOrigin + performance.now();
  });
}).observe(document, {
  subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"],
});
"""


class Server:
    def __init__(self, workdir: Path, database_url: str, rpc_ws: str, token: str) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        config = {
            "admin": {"secret": "bench-admin-Rw7Tk3Zq9Lm1"},
            "merchant": {"name": "Bench", "secret": SECRET, "allowed_origins": [self.origin]},
            "security": {"user_rate_limit_per_minute": 100_000},
            "wallets": [{"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT"]}],
            "chains": {
                "eth": {
                    "rpc_urls": [rpc_ws],
                    "confirmations": 2,
                    "chain_id": 31337,
                    "tokens": {"USDT": {"contract": token, "decimals": 6}},
                }
            },
        }
        self.config = workdir / "config.toml"
        self.config.write_text(tomlkit.dumps(config), encoding="utf-8")
        argv = ["serve", "-c", str(self.config), "--listen", f"127.0.0.1:{self.port}", "--migrate"]
        env = {"DATABASE_URL": database_url}
        self.process = AppProcess("serve", argv, workdir / "serve.log", env=env, port=self.port)
        try:
            self.process.start().wait_healthy(60)
        except RuntimeError:
            raise SystemExit(f"serve exited: see {workdir / 'serve.log'}") from None
        except TimeoutError:
            raise SystemExit("serve did not become healthy") from None

    def stop(self) -> None:
        self.process.stop(15)

    def create_order(self, amount: str) -> str:
        raw = json.dumps(
            {"order_id": f"bench-{uuid.uuid4().hex[:8]}", "amount": amount,
             "webhook_url": "https://shop.example.com/hook"},
            separators=(",", ":"),
        ).encode()  # fmt: skip
        response = httpx.post(
            f"{self.origin}/api/v1/service/orders",
            content=raw,
            headers={"Content-Type": "application/json",
                     "Ocrch-Signature": sign_body(SECRET, raw, int(time.time()))},
        )  # fmt: skip
        response.raise_for_status()
        return str(response.json()["order_id"])

    def signed(self, order_id: str) -> tuple[str, str]:
        url = f"{self.origin}/checkout/?order_id={order_id}"
        return url, sign_url(SECRET, url, int(time.time()))

    def page_url(self, order_id: str) -> str:
        url, signature = self.signed(order_id)
        return f"{url}&sig={quote(signature, safe='')}"


async def measure_weight(browser: Browser, server: Server) -> dict[str, Any]:
    context = await browser.new_context()
    page = await context.new_page()
    seen: list[Any] = []
    page.on("requestfinished", lambda request: seen.append(request))
    await page.goto(server.page_url(server.create_order("19.99")))
    await page.get_by_test_id("option-eth-USDT").wait_for()
    await page.wait_for_load_state("networkidle")
    first = await sizes(seen)
    await page.get_by_test_id("option-eth-USDT").click()
    await expect(page.get_by_test_id("qr")).to_have_js_property("complete", True)
    await page.wait_for_load_state("networkidle")
    total = await sizes(seen)
    await context.close()
    return {"first": first, "with_payment": total}


async def sizes(requests: list[Any]) -> dict[str, Any]:
    rows = []
    for request in requests:
        response = await request.response()
        size = await request.sizes()
        headers = await response.all_headers() if response else {}
        rows.append({
            "url": urlsplit(request.url).path.rsplit("/", 1)[-1] or "index.html",
            "body": size["responseBodySize"],
            "headers": size["responseHeadersSize"],
            "encoding": headers.get("content-encoding", ""),
        })  # fmt: skip
    return {
        "files": rows,
        "body": sum(r["body"] for r in rows),
        "headers": sum(r["headers"] for r in rows),
    }


def gzip_sizes() -> dict[str, tuple[int, int]]:
    out = {}
    for path in sorted(FRONTEND.iterdir()):
        if path.is_file():
            data = path.read_bytes()
            out[path.name] = (len(data), len(gzip.compress(data, 9)))
    return out


async def db_moment(database_url: str, order_id: str, column: str) -> float:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            value = await conn.scalar(
                sa.select(getattr(Order, column)).where(Order.id == uuid.UUID(order_id))
            )
    finally:
        await engine.dispose()
    return float(value.timestamp())


async def open_on_payment(browser: Browser, server: Server, amount: str) -> tuple[Page, str, Any]:
    context = await browser.new_context()
    await context.add_init_script(STAMPS)
    page = await context.new_page()
    order_id = server.create_order(amount)
    await page.goto(server.page_url(order_id))
    async with page.expect_response(lambda r: r.url.endswith("/payment")) as answer:
        await page.get_by_test_id("option-eth-USDT").click()
    detail = await (await answer.value).json()
    await page.get_by_test_id("amount").wait_for()
    await page.wait_for_timeout(300)  # the socket is up and its snapshot shown
    return page, order_id, detail


async def wait_stamp(page: Page, word: str, timeout: float = 30) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stamp = await page.evaluate(f"window.__stamps && window.__stamps[{json.dumps(word)}]")
        if stamp and "frame" in stamp:
            return dict(stamp)
        await asyncio.sleep(0.05)
    raise SystemExit(f"the page never showed {word}")


async def paid_run(
    browser: Browser, server: Server, w3: Any, token: str, i: int
) -> dict[str, float]:
    page, order_id, detail = await open_on_payment(browser, server, f"{10 + i}.01")
    await transfer_tokens(w3, token, WALLET, int(detail["amount_base_units"]), sender=PAYER)
    await wait_stamp(page, "detected")
    await mine(w3, 1)
    stamp = await wait_stamp(page, "paid")
    committed = await db_moment(server.database_url, order_id, "paid_at")
    await page.context.close()
    return {"dom": stamp["dom"] / 1000 - committed, "frame": stamp["frame"] / 1000 - committed}


async def cancel_run(browser: Browser, server: Server, i: int) -> dict[str, float]:
    page, order_id, _ = await open_on_payment(browser, server, f"{50 + i}.02")
    url, signature = server.signed(order_id)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{server.origin}/api/v1/user/orders/{order_id}/cancel",
            headers={"Ocrch-Signed-Url": url, "Ocrch-Signature": signature},
        )
    response.raise_for_status()
    stamp = await wait_stamp(page, "cancelled")
    committed = await db_moment(server.database_url, order_id, "updated_at")
    await page.context.close()
    return {"dom": stamp["dom"] / 1000 - committed, "frame": stamp["frame"] / 1000 - committed}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report_latency(name: str, runs: list[dict[str, float]]) -> float:
    dom = [r["dom"] * 1000 for r in runs]
    frame = [r["frame"] * 1000 for r in runs]
    print(f"  {name:<8} n={len(runs)}  status in DOM: p50 {statistics.median(dom):6.1f} ms  "
          f"p90 {pct(dom, 0.9):6.1f}  max {max(dom):6.1f}   painted (next frame): "
          f"p50 {statistics.median(frame):6.1f} ms  p90 {pct(frame, 0.9):6.1f}  "
          f"max {max(frame):6.1f}")  # fmt: skip
    return statistics.median(frame)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"chromium not found at {CHROMIUM} (apt-get install chromium)")

    with tempfile.TemporaryDirectory(prefix="page-bench-") as tmp:
        workdir = Path(tmp)
        database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        async with AnvilProcess(binary=find_anvil()) as node:
            w3: Any = AsyncWeb3(AsyncHTTPProvider(node.http_url))
            token = await deploy_token(w3, mint={PAYER: 10**15})
            server = Server(workdir, database_url, node.ws_url, token)
            try:
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
                    )
                    weight = await measure_weight(browser, server)
                    paid = [await paid_run(browser, server, w3, token, i) for i in range(args.runs)]
                    cancelled = [await cancel_run(browser, server, i) for i in range(args.runs)]
                    await browser.close()
            finally:
                server.stop()
            await w3.provider.disconnect()

    print("checkout page benchmark (issue 8)")
    print(f"  database: {database_url.split(':')[0]}; chromium {CHROMIUM}")
    print("  first load (until the chain/coin options show), as served:")
    for row in weight["first"]["files"]:
        print(f"    {row['url']:<16} {row['body']:>7} B body {row['headers']:>5} B headers"
              f"  {row['encoding'] or 'identity'}")  # fmt: skip
    first = weight["first"]
    print(f"    total            {first['body']:>7} B body + {first['headers']} B headers = "
          f"{(first['body'] + first['headers']) / 1024:.1f} KB (target <= 100 KB)")  # fmt: skip
    more = weight["with_payment"]
    print(f"  with the payment step (payment POST + QR SVG): "
          f"{(more['body'] + more['headers']) / 1024:.1f} KB")  # fmt: skip
    static = gzip_sizes()
    raw = sum(a for a, _ in static.values())
    packed = sum(b for _, b in static.values())
    print(f"  static files: {raw / 1024:.1f} KB raw, {packed / 1024:.1f} KB if gzip -9 by a host")
    print("  final state latency, commit -> page:")
    p50 = report_latency("paid", paid)
    report_latency("cancel", cancelled)
    total_kb = (first["body"] + first["headers"]) / 1024
    print(f"  targets: weight {'met' if total_kb <= 100 else 'MISSED'}, "
          f"paid p50 {'met' if p50 <= 300 else 'MISSED'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
