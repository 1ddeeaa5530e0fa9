"""The moving parts of the reliability scenario: shoppers that retry like real clients, payers on
anvil whose retries cannot pay twice, WebSocket followers, and a merchant webhook receiver.

Everything records what it saw with a timestamp, so the test can say per fault what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import websockets
from aiohttp import web
from eth_account import Account
from web3 import AsyncWeb3
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from app.security.signatures import sign_body, sign_url
from devkit.chain.anvil import ANVIL_ACCOUNTS, ANVIL_PRIVATE_KEYS, token_contract
from tests.conftest import K1, free_port
from tests.helpers import checkout_url
from tests.reliability.conftest import AppProcess
from tests.webhooks.test_sender import independent_verify

TERMINAL = {"paid", "expired", "cancelled"}


class Clock:
    """Seconds since the scenario started: every record carries one."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.started_wall = time.time()

    def now(self) -> float:
        return round(time.monotonic() - self.started, 2)


@dataclass
class Retry:
    at: float
    op: str
    reason: str


# ---------------------------------------------------------------------------------------------
# Shoppers and merchant backend: the HTTP APIs on either replica


class ShopClient:
    """Service API and User API calls that fail over to the other replica and retry, as a
    merchant backend behind a load balancer and a checkout page do. Order creation carries an
    Idempotency-Key, so a retry after a lost answer cannot create a second order."""

    def __init__(self, replicas: list[AppProcess], clock: Clock, deadline: float = 90) -> None:
        self.replicas = replicas
        self.clock = clock
        self.deadline = deadline
        self.retries: list[Retry] = []
        self.replayed = 0
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(8, connect=2), limits=httpx.Limits(max_connections=200)
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        prefer: int,
        body: bytes | None = None,
        headers: Any,
        ok: tuple[int, ...],
    ) -> httpx.Response:
        give_up = time.monotonic() + self.deadline
        attempt = 0
        while True:
            replica = self.replicas[(prefer + attempt) % len(self.replicas)]
            reason: str
            try:
                response = await self.http.request(
                    method, replica.url + path, content=body, headers=headers()
                )
                if response.status_code in ok:
                    return response
                if response.status_code < 500:
                    raise AssertionError(
                        f"{op} on {replica.name}: {response.status_code} {response.text}"
                    )
                reason = f"{replica.name}: HTTP {response.status_code}"
            except httpx.TransportError as exc:
                reason = f"{replica.name}: {type(exc).__name__}"
            self.retries.append(Retry(self.clock.now(), op, reason))
            attempt += 1
            if time.monotonic() > give_up:
                raise AssertionError(f"{op} kept failing for {self.deadline} s: {reason}")
            await asyncio.sleep(min(1.0, 0.1 * attempt))

    async def create_order(
        self, merchant_order_id: str, amount: str, webhook_url: str, prefer: int
    ) -> str:
        raw = json.dumps(
            {
                "order_id": merchant_order_id,
                "amount": amount,
                "webhook_url": webhook_url,
                "expecting_wallet_address": None,
                "blockchain": None,
                "stablecoin": None,
            },
            separators=(",", ":"),
        ).encode()

        def headers() -> dict[str, str]:
            return {
                "Ocrch-Signature": sign_body(K1, raw, int(time.time())),
                "Content-Type": "application/json",
                "Idempotency-Key": f"create-{merchant_order_id}",
            }

        response = await self._call(
            "create order",
            "POST",
            "/api/v1/service/orders",
            prefer=prefer,
            body=raw,
            headers=headers,
            ok=(201,),
        )
        if response.headers.get("Idempotent-Replayed") == "true":
            self.replayed += 1
        order_id: str = response.json()["order_id"]
        return order_id

    async def choose_payment(self, order_id: str, prefer: int) -> dict[str, Any]:
        raw = b'{"blockchain":"eth","stablecoin":"USDT"}'
        response = await self._call(
            "choose payment",
            "POST",
            f"/api/v1/user/orders/{order_id}/payment",
            prefer=prefer,
            body=raw,
            headers=lambda: {**user_headers(order_id), "Content-Type": "application/json"},
            ok=(201,),
        )
        detail: dict[str, Any] = response.json()
        return detail

    async def status(self, order_id: str, prefer: int = 0) -> str:
        response = await self._call(
            "poll status",
            "GET",
            f"/api/v1/user/orders/{order_id}/status",
            prefer=prefer,
            headers=lambda: user_headers(order_id),
            ok=(200,),
        )
        return str(response.json()["status"])

    async def cancel(self, order_id: str, prefer: int) -> None:
        await self._call(
            "cancel",
            "POST",
            f"/api/v1/user/orders/{order_id}/cancel",
            prefer=prefer,
            headers=lambda: user_headers(order_id),
            ok=(200,),
        )


def user_headers(order_id: str) -> dict[str, str]:
    url = checkout_url(order_id)
    return {"Ocrch-Signed-Url": url, "Ocrch-Signature": sign_url(K1, url, int(time.time()))}


def ws_url(base: str, order_id: str) -> str:
    signed = checkout_url(order_id)
    query = urlencode({"signed_url": signed, "signature": sign_url(K1, signed, int(time.time()))})
    return f"{base.replace('http://', 'ws://')}/api/v1/user/orders/{order_id}/ws?{query}"


# ---------------------------------------------------------------------------------------------
# Payers on anvil


@dataclass
class Payment:
    order_id: str
    to: str
    amount: int
    token: str
    tx_hash: str = ""
    sends: int = 0
    sent_at: float = 0.0
    mined_at: float = 0.0
    block_number: int = 0
    errors: list[str] = field(default_factory=list)


class PayerLane:
    """One funded anvil account. Its transactions are signed here with explicit nonces, so a
    retry resends the very same transaction (same hash): a shopper who retries after a node
    outage can never pay twice, and we always know which hash paid."""

    def __init__(self, index: int, w3: AsyncWeb3[Any], clock: Clock) -> None:
        self.address = ANVIL_ACCOUNTS[index]
        self.key = ANVIL_PRIVATE_KEYS[index]
        self.w3 = w3
        self.clock = clock
        self.lock = asyncio.Lock()
        self.nonce: int | None = None

    async def _signed(self, payment: Payment, nonce: int) -> tuple[bytes, str]:
        call = token_contract(self.w3, payment.token).functions.transfer(
            self.w3.to_checksum_address(payment.to), payment.amount
        )
        tx = await call.build_transaction(
            {
                "from": self.address,
                "nonce": nonce,
                "gas": 120_000,
                "maxFeePerGas": 50 * 10**9,
                "maxPriorityFeePerGas": 10**9,
                "chainId": 31337,
            }
        )
        signed = Account.sign_transaction(tx, self.key)
        return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()

    async def pay(self, payment: Payment, give_up_after: float = 120) -> Payment:
        async with self.lock:
            give_up = time.monotonic() + give_up_after
            while self.nonce is None:
                try:
                    self.nonce = await self.w3.eth.get_transaction_count(self.address, "pending")
                except Exception as exc:  # noqa: BLE001 - the node may be restarting
                    payment.errors.append(f"{self.clock.now()}: nonce: {type(exc).__name__}")
                    await asyncio.sleep(0.5)
            raw, tx_hash = await self._signed(payment, self.nonce)
            payment.tx_hash = tx_hash
            payment.sent_at = self.clock.now()
            while True:
                if time.monotonic() > give_up:
                    raise AssertionError(f"payment {tx_hash} not mined: {payment.errors}")
                payment.sends += 1
                try:
                    await self.w3.eth.send_raw_transaction(raw)
                except Exception as exc:  # noqa: BLE001 - node down, or "already known": look
                    payment.errors.append(f"{self.clock.now()}: send: {type(exc).__name__}")
                    if isinstance(exc, OSError):
                        await asyncio.sleep(0.5)
                receipt = await self._receipt(tx_hash, seconds=6)
                if receipt is not None:
                    if receipt["status"] != 1:
                        raise AssertionError(f"payment {tx_hash} reverted")
                    payment.block_number = int(receipt["blockNumber"])
                    payment.mined_at = self.clock.now()
                    self.nonce += 1
                    return payment
                payment.errors.append(f"{self.clock.now()}: not mined yet, sending again")

    async def _receipt(self, tx_hash: str, seconds: float) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # TransactionNotFound, node restarting
                return await self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            await asyncio.sleep(0.25)
        return None


class Payers:
    def __init__(self, w3: AsyncWeb3[Any], indexes: list[int], clock: Clock) -> None:
        self.lanes = [PayerLane(i, w3, clock) for i in indexes]
        self._next = 0

    async def pay(self, payment: Payment) -> Payment:
        lane = self.lanes[self._next % len(self.lanes)]
        self._next += 1
        return await lane.pay(payment)


# ---------------------------------------------------------------------------------------------
# WebSocket followers


@dataclass
class Follower:
    """A checkout page following one order: reconnects (to the other replica after a failure)
    until it sees a terminal status."""

    order_id: str
    replicas: list[AppProcess]
    prefer: int
    clock: Clock
    statuses: list[str] = field(default_factory=list)
    connects: int = 0
    closes: Counter[str] = field(default_factory=Counter)
    terminal: str | None = None
    terminal_at: float | None = None
    on: str | None = None
    """The replica it is connected to right now."""

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while self.terminal is None and not stop.is_set():
            replica = self.replicas[(self.prefer + attempt) % len(self.replicas)]
            try:
                async with websockets.connect(
                    ws_url(replica.url, self.order_id), open_timeout=5, close_timeout=1
                ) as socket:
                    self.connects += 1
                    self.on = replica.name
                    while not stop.is_set():
                        try:
                            raw = await asyncio.wait_for(socket.recv(), 1.0)
                        except TimeoutError:
                            continue
                        frame = json.loads(raw)
                        status = (frame.get("order") or {}).get("status")
                        if status:
                            self.statuses.append(status)
                        if status in TERMINAL:
                            self.terminal, self.terminal_at = status, self.clock.now()
                            return
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else "lost"
                self.closes[f"{replica.name} close {code}"] += 1
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.closes[f"{replica.name} {type(exc).__name__}"] += 1
            finally:
                self.on = None
            attempt += 1
            await asyncio.sleep(min(2.0, 0.2 * attempt))


# ---------------------------------------------------------------------------------------------
# The merchant's webhook receiver


@dataclass
class Delivery:
    at: float
    event_id: str
    attempt: int
    payload: dict[str, Any]
    verified: bool


class Receiver:
    """aiohttp on 127.0.0.1: verifies each signature on arrival (stdlib HMAC, 300 s window),
    records the event id, answers 204. `stop()`/`start()` keep the port: a receiver that is down
    refuses connections."""

    def __init__(self, clock: Clock) -> None:
        self.port = free_port()
        self.clock = clock
        self.deliveries: list[Delivery] = []
        self._runner: web.AppRunner | None = None
        self.downtime: list[tuple[float, float]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get("Ocrch-Signature", "")
        verified = independent_verify(K1, header, body, int(time.time()))
        self.deliveries.append(
            Delivery(
                self.clock.now(),
                request.headers.get("Stablecheckout-Event-Id", ""),
                int(request.headers.get("Stablecheckout-Attempt", "0")),
                json.loads(body),
                verified,
            )
        )
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        for _ in range(50):  # the port may linger for a moment after stop()
            try:
                await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise RuntimeError(f"receiver could not bind 127.0.0.1:{self.port}")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def event_ids(self) -> set[str]:
        return {d.event_id for d in self.deliveries}


def new_merchant_order_id() -> str:
    return f"rel-{uuid.uuid4().hex[:12]}"


def random_amount(rng: random.Random) -> str:
    return f"{rng.randint(1, 80)}.{rng.randint(0, 99):02d}"
