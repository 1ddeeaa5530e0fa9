"""A small, faithful simulator of the java-tron HTTP API, for tests, benchmarks and `dev`.

No TRON network is reachable from development machines and CI, so the TRON watcher is tested
against this: an aiohttp server on 127.0.0.1 that answers the endpoints the watcher uses with the
JSON shapes java-tron prints (checked against the node's servlets and the documented responses
recorded in tests/watchers/fixtures/tron/):

    /wallet/getnowblock                     head block (full block, transactions included)
    /wallet/getblockbynum                   {"num": N}; `{}` when there is no such block
    /wallet/gettransactioninfobyblocknum    {"num": N}; a JSON list, `[]` for an empty block (and
                                            for a block the node does not have), `{}` for N <= 0
    /wallet/gettransactionbyid, /wallet/gettransactioninfobyid      {"value": TXID}; `{}` if none
    /wallet/getnodeinfo                     "block" / "solidityBlock" as "Num:N,ID:HASH"
    /walletsolidity/getnowblock, /walletsolidity/getblockbynum,
    /walletsolidity/gettransactioninfobyblocknum                    the same, up to the solid block

Every endpoint accepts GET (query parameters) and POST (a JSON body, possibly empty), as the node
does; errors are HTTP 200 with `{"Error": "<exception class> : <message>"}`; unknown paths are
404. Shapes: `blockID` and hashes are 64 lowercase hex digits without 0x (a block id starts with
the block number, as on TRON); addresses in blocks and transaction infos are `41`-prefixed hex,
addresses in logs are 40 hex digits without the prefix; topics and data are hex without 0x;
timestamps are milliseconds (block timestamps are multiples of 3000, never in the past); fields
with protobuf default values are omitted (the genesis block has no `number`, an empty block no
`transactions`, a TRX transfer's info no `log` and no `receipt.result`).

What it models: blocks (produced on demand or every `block_time` seconds), TRC-20 token transfers
(`transfer(address,uint256)` calls that emit a `Transfer` log, optionally failing with
`receipt.result` REVERT/OUT_OF_ENERGY and `result: FAILED`), batch payouts (one transaction, several
Transfer logs), TRX transfers and other contract calls as filler, solidification (manual, or
automatically `solidify_lag` blocks behind the head), forks of unsolidified blocks, node outages
(stop/start on the same port) and throttling (HTTP 429/503 answers). What it does not model:
balances, signatures and energy (a transfer succeeds unless told to fail).

Failed transactions keep their Transfer logs in their transaction info by default
(`logs_on_failure`), the worst case a reader must survive: the java-tron docs tell readers to check
the result before parsing logs.

Tests drive it in-process (`async with TronSimulator() as sim: sim.transfer(...); sim.produce()`);
other processes drive it over a few control endpoints under `/_sim/` (see `_control_routes`), and
`python -m devkit.chain.tron_simulator` runs it standalone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import math
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import TracebackType
from typing import Any

from aiohttp import web
from tronpy.keys import to_base58check_address, to_hex_address

TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
"""keccak256("Transfer(address,address,uint256)"), as TRON prints topics: hex without 0x."""
TRANSFER_SELECTOR = "a9059cbb"
"""transfer(address,uint256)."""
BLOCK_INTERVAL_MS = 3000
MAINNET_SOLIDIFY_LAG = 19
"""Blocks on top of a block before mainnet solidifies it (2/3 of 27 super representatives + 1)."""

_METHODS = frozenset(
    {
        "getnowblock",
        "getblockbynum",
        "gettransactioninfobyblocknum",
        "gettransactionbyid",
        "gettransactioninfobyid",
        "getnodeinfo",
    }
)
_TRIGGER_URL = "type.googleapis.com/protocol.TriggerSmartContract"
_TRANSFER_URL = "type.googleapis.com/protocol.TransferContract"


# -- addresses


def sim_address(seed: str) -> str:
    """A deterministic, valid base58check TRON address (T…) derived from `seed`."""
    return str(to_base58check_address("41" + hashlib.sha256(seed.encode()).hexdigest()[:40]))


@lru_cache(maxsize=65536)
def hex41(address: str) -> str:
    """`41`-prefixed lowercase hex of a T… (or hex) address, as java-tron prints it."""
    return str(to_hex_address(address)).lower()


def hex20(address: str) -> str:
    """The 20-byte (40 hex digit) form, as in logs and topics."""
    return hex41(address)[2:]


def _word(value: int | str) -> str:
    """A 32-byte ABI word: an int, or a 40-hex address left-padded."""
    if isinstance(value, int):
        return f"{value:064x}"
    return value.rjust(64, "0")


def _sha(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


# -- chain objects


@dataclass
class SimTransaction:
    """One transaction and its execution result (what java-tron splits into tx + tx info)."""

    txid: str
    kind: str
    """"TriggerSmartContract" or "TransferContract"."""
    owner: str
    """41-hex."""
    target: str
    """41-hex: the called contract, or the TRX recipient."""
    call_data: str = ""
    amount: int = 0
    """TRX sun for TransferContract."""
    result: str = "SUCCESS"
    logs: list[dict[str, Any]] = field(default_factory=list)
    timestamp: int = 0
    fee: int = 0
    energy: int = 0

    @property
    def succeeded(self) -> bool:
        return self.result == "SUCCESS"

    def raw_data(self) -> dict[str, Any]:
        if self.kind == "TransferContract":
            value: dict[str, Any] = {
                "amount": self.amount,
                "owner_address": self.owner,
                "to_address": self.target,
            }
            type_url = _TRANSFER_URL
        else:
            value = {"data": self.call_data, "owner_address": self.owner}
            value["contract_address"] = self.target
            type_url = _TRIGGER_URL
        raw: dict[str, Any] = {
            "contract": [{"parameter": {"value": value, "type_url": type_url}, "type": self.kind}],
            "ref_block_bytes": self.txid[:4],
            "ref_block_hash": self.txid[4:20],
            "expiration": self.timestamp + 60_000,
        }
        if self.kind != "TransferContract":
            raw["fee_limit"] = 100_000_000
        raw["timestamp"] = self.timestamp
        return raw

    def transaction_json(self) -> dict[str, Any]:
        """As in a block's `transactions` and /wallet/gettransactionbyid."""
        contract_ret = "SUCCESS" if self.kind == "TransferContract" else self.result
        return {
            "ret": [{"contractRet": contract_ret}],
            "signature": [self.txid * 2 + "1b"],
            "txID": self.txid,
            "raw_data": self.raw_data(),
            # Not protobuf (that would need the schema); a stable hex string of the right kind.
            "raw_data_hex": "0a02" + self.txid[:4] + "2208" + self.txid[4:20] + "40" + self.txid,
        }

    def info_json(
        self, block_number: int, block_timestamp: int, logs_on_failure: bool
    ) -> dict[str, Any]:
        """As in /wallet/gettransactioninfobyblocknum (protobuf defaults omitted)."""
        info: dict[str, Any] = {"id": self.txid}
        if self.fee:
            info["fee"] = self.fee
        if block_number:
            info["blockNumber"] = block_number
        if block_timestamp:
            info["blockTimeStamp"] = block_timestamp
        info["contractResult"] = [""]
        if self.kind == "TransferContract":
            info["receipt"] = {"net_usage": 268}
            return info
        info["contract_address"] = self.target
        receipt: dict[str, Any] = {"energy_usage_total": self.energy or 29_631}
        if self.fee:
            receipt["energy_fee"] = self.fee - 345_000 if self.fee > 345_000 else self.fee
        receipt["net_usage"] = 345
        receipt["result"] = self.result
        info["receipt"] = receipt
        if self.logs and (self.succeeded or logs_on_failure):
            info["log"] = self.logs
        if not self.succeeded:
            info["result"] = "FAILED"
            info["resMessage"] = b"REVERT opcode executed".hex()
        return info


@dataclass
class SimBlock:
    number: int
    block_id: str
    parent_hash: str
    timestamp: int
    witness: str
    transactions: list[SimTransaction]
    produced_at: float = 0.0
    """time.monotonic() when the block was appended (benchmarks)."""
    solidified_at: float | None = None
    """time.monotonic() when it became solid (benchmarks)."""
    _block_bytes: bytes | None = None
    _infos_bytes: bytes | None = None

    def block_json(self) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        if self.number:
            raw["number"] = self.number
        raw["txTrieRoot"] = _sha("txroot", *(t.txid for t in self.transactions))
        raw["witness_address"] = self.witness
        raw["parentHash"] = self.parent_hash
        raw["version"] = 32
        if self.timestamp:
            raw["timestamp"] = self.timestamp
        block: dict[str, Any] = {
            "blockID": self.block_id,
            "block_header": {
                "raw_data": raw,
                "witness_signature": _sha("sig", self.block_id) * 2 + "00",
            },
        }
        if self.transactions:
            block["transactions"] = [t.transaction_json() for t in self.transactions]
        return block

    def block_bytes(self) -> bytes:
        if self._block_bytes is None:
            self._block_bytes = json.dumps(self.block_json(), separators=(",", ":")).encode()
        return self._block_bytes

    def infos_bytes(self, logs_on_failure: bool) -> bytes:
        if self._infos_bytes is None:
            infos = [
                t.info_json(self.number, self.timestamp, logs_on_failure) for t in self.transactions
            ]
            self._infos_bytes = json.dumps(infos, separators=(",", ":")).encode()
        return self._infos_bytes


_WITNESSES = tuple("41" + _sha("witness", i)[:40] for i in range(27))


# -- the simulator


class TronSimulator:
    """An in-memory TRON chain served over the java-tron HTTP API. See the module docstring."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        solidify_lag: int | None = None,
        logs_on_failure: bool = True,
        seed: str = "tron-sim",
    ) -> None:
        """
        solidify_lag: when set, every produced block solidifies the block that many blocks below
        the head (mainnet: 19); when None, only `solidify()` moves the solid block.
        """
        self.host = host
        self.port = port
        self.solidify_lag = solidify_lag
        self.logs_on_failure = logs_on_failure
        self.seed = seed
        self.solidity_api = True
        """False: /walletsolidity/* answers 404, like a self-hosted node's full-node port."""
        self.requests: deque[tuple[str, str | None]] = deque(maxlen=10_000)
        """(path, TRON-PRO-API-KEY header) of recent requests."""
        self._failures: deque[tuple[int, float | None]] = deque()
        self._counter = itertools.count(1)
        self._branch = 0
        genesis = SimBlock(
            number=0,
            block_id="0" * 16 + _sha(seed, "genesis")[16:64],
            parent_hash=_sha(seed, "before-genesis"),
            timestamp=0,
            witness=_WITNESSES[0],
            transactions=[],
            produced_at=time.monotonic(),
            solidified_at=time.monotonic(),
        )
        self.blocks: list[SimBlock] = [genesis]
        self.solid_number = 0
        self.pending: list[SimTransaction] = []
        self.contracts: dict[str, str] = {}
        """name -> T… address of the contracts deployed with `deploy_token`."""
        self._runner: web.AppRunner | None = None
        self._producer: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[SimBlock], None]] = []

    # -- chain state

    @property
    def head(self) -> SimBlock:
        return self.blocks[-1]

    @property
    def solid(self) -> SimBlock:
        return self.blocks[self.solid_number]

    def block(self, number: int) -> SimBlock | None:
        return self.blocks[number] if 0 <= number < len(self.blocks) else None

    def find_transaction(self, txid: str) -> tuple[SimBlock, SimTransaction] | None:
        for block in reversed(self.blocks):
            for tx in block.transactions:
                if tx.txid == txid:
                    return block, tx
        return None

    def on_block(self, listener: Callable[[SimBlock], None]) -> None:
        """Call `listener(block)` for every block appended from now on (benchmarks)."""
        self._listeners.append(listener)

    # -- building transactions

    def deploy_token(self, name: str = "TestUSDT") -> str:
        """A TRC-20 contract address (T…) for `name`; no code runs, transfers just emit logs."""
        address = sim_address(f"{self.seed}/contract/{name}")
        self.contracts[name] = address
        return address

    def _next_txid(self, *parts: object) -> str:
        return _sha(self.seed, "tx", next(self._counter), *parts)

    def _now_ms(self) -> int:
        return int(time.time() * 1000)

    def transfer(
        self,
        token: str,
        sender: str,
        to: str,
        amount: int,
        *,
        result: str = "SUCCESS",
    ) -> str:
        """Queue `token.transfer(to, amount)` sent by `sender`; returns the txid.

        result: "SUCCESS", or a failure as java-tron names it ("REVERT", "OUT_OF_ENERGY", …).
        """
        return self.batch_transfer(token, sender, [(to, amount)], via=token, result=result)

    def batch_transfer(
        self,
        token: str,
        sender: str,
        payouts: Sequence[tuple[str, int]],
        *,
        via: str | None = None,
        result: str = "SUCCESS",
    ) -> str:
        """One transaction that moves `token` several times (a payout contract at `via`, which
        holds the tokens, or the token itself when `via` is the token). Returns the txid."""
        contract = via or sim_address(f"{self.seed}/batcher")
        source = hex20(sender) if contract == token else hex20(contract)
        logs = [
            {
                "address": hex20(token),
                "topics": [TRANSFER_TOPIC, _word(source), _word(hex20(to))],
                "data": _word(amount),
            }
            for to, amount in payouts
        ]
        if contract == token and len(payouts) == 1:
            to, amount = payouts[0]
            call_data = TRANSFER_SELECTOR + _word(hex20(to)) + _word(amount)
        else:
            call_data = "88d695b2" + "".join(_word(hex20(to)) + _word(a) for to, a in payouts)
        tx = SimTransaction(
            txid=self._next_txid(token, sender, payouts),
            kind="TriggerSmartContract",
            owner=hex41(sender),
            target=hex41(contract),
            call_data=call_data,
            result=result,
            logs=logs,
            timestamp=self._now_ms(),
            fee=13_844_850,
            energy=64_285 if result == "SUCCESS" else 130_285,
        )
        self.pending.append(tx)
        return tx.txid

    def trx_transfer(self, sender: str, to: str, amount: int) -> str:
        tx = SimTransaction(
            txid=self._next_txid("trx", sender, to, amount),
            kind="TransferContract",
            owner=hex41(sender),
            target=hex41(to),
            amount=amount,
            timestamp=self._now_ms(),
        )
        self.pending.append(tx)
        return tx.txid

    def contract_call(self, sender: str, contract: str, topics: Sequence[str] = ()) -> str:
        """Some other contract call, with one non-Transfer log (filler traffic)."""
        tx = SimTransaction(
            txid=self._next_txid("call", sender, contract),
            kind="TriggerSmartContract",
            owner=hex41(sender),
            target=hex41(contract),
            call_data="095ea7b3" + _word(hex20(sender)) + _word(2**256 - 1),
            logs=[
                {
                    "address": hex20(contract),
                    "topics": list(topics)
                    or [
                        "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925",
                        _word(hex20(sender)),
                        _word(hex20(contract)),
                    ],
                    "data": _word(2**256 - 1),
                }
            ],
            timestamp=self._now_ms(),
            fee=1_234_000,
        )
        self.pending.append(tx)
        return tx.txid

    # -- blocks

    def produce(self, count: int = 1) -> list[SimBlock]:
        """Append `count` blocks; the first one includes every pending transaction."""
        made = []
        for _ in range(count):
            parent = self.head
            number = parent.number + 1
            wall = math.ceil(self._now_ms() / BLOCK_INTERVAL_MS) * BLOCK_INTERVAL_MS
            timestamp = max(parent.timestamp + BLOCK_INTERVAL_MS, wall)
            txs, self.pending = self.pending, []
            salt = _sha(self.seed, self._branch, number, parent.block_id, timestamp)
            block = SimBlock(
                number=number,
                block_id=f"{number:016x}" + salt[16:64],
                parent_hash=parent.block_id,
                timestamp=timestamp,
                witness=_WITNESSES[number % len(_WITNESSES)],
                transactions=txs,
                produced_at=time.monotonic(),
            )
            self.blocks.append(block)
            made.append(block)
            if self.solidify_lag is not None:
                self.solidify(max(0, number - self.solidify_lag))
            for listener in self._listeners:
                listener(block)
        return made

    def solidify(self, number: int | None = None) -> None:
        """Make every block up to `number` (default: the head) solid; never moves backwards."""
        target = self.head.number if number is None else min(number, self.head.number)
        now = time.monotonic()
        for n in range(self.solid_number + 1, target + 1):
            self.blocks[n].solidified_at = now
        self.solid_number = max(self.solid_number, target)

    def fork(
        self,
        at: int,
        *,
        length: int | None = None,
        keep: bool | Callable[[SimTransaction], bool] = False,
    ) -> list[SimBlock]:
        """Replace blocks `at`… (all unsolidified) with `length` new blocks (default: as many).

        keep: re-include the orphaned transactions in the new branch (True, or a predicate per
        transaction), as a network does with transactions still valid on the other branch;
        otherwise they vanish.
        """
        if at <= self.solid_number:
            raise ValueError(f"block {at} is solid (solid block: {self.solid_number})")
        if at > self.head.number:
            raise ValueError(f"no block {at} (head: {self.head.number})")
        orphaned = self.blocks[at:]
        del self.blocks[at:]
        count = len(orphaned) if length is None else length
        if keep:
            again = [
                t
                for b in orphaned
                for t in b.transactions
                if keep is True or (callable(keep) and keep(t))
            ]
            self.pending = again + self.pending
        self._branch += 1  # a new branch: new block ids even for the same transactions
        return self.produce(count) if count else []

    def fill(
        self,
        blocks: int,
        txs_per_block: int,
        *,
        token: str,
        wallets: Sequence[str] = (),
        ours_per_block: int = 1,
        rng: random.Random | None = None,
    ) -> None:
        """Produce `blocks` busy blocks of `txs_per_block` transactions, mainnet-like: about 60%
        USDT transfers between strangers, 30% TRX transfers, the rest other contract calls, plus
        `ours_per_block` token transfers to `wallets` (when given)."""
        rng = rng or random.Random(7)
        strangers = [sim_address(f"{self.seed}/stranger/{i}") for i in range(500)]
        other = sim_address(f"{self.seed}/contract/dex")
        for _ in range(blocks):
            for _ in range(ours_per_block if wallets else 0):
                self.transfer(
                    token, rng.choice(strangers), rng.choice(wallets), rng.randint(1, 10**9)
                )
            for _ in range(txs_per_block - (ours_per_block if wallets else 0)):
                roll = rng.random()
                a, b = rng.sample(strangers, 2)
                if roll < 0.6:
                    self.transfer(token, a, b, rng.randint(1, 10**10))
                elif roll < 0.9:
                    self.trx_transfer(a, b, rng.randint(1, 10**9))
                else:
                    self.contract_call(a, other)
            self.produce()

    async def produce_every(self, seconds: float) -> None:
        """Produce a block every `seconds` until cancelled (use `start_producing`)."""
        while True:
            await asyncio.sleep(seconds)
            self.produce()

    def start_producing(self, seconds: float = BLOCK_INTERVAL_MS / 1000) -> None:
        if self._producer is None or self._producer.done():
            self._producer = asyncio.create_task(self.produce_every(seconds), name="tron-sim")

    async def stop_producing(self) -> None:
        task, self._producer = self._producer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- faults

    def fail_requests(
        self, status: int = 503, count: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next `count` API requests with HTTP `status` (429/503 like a gateway)."""
        for _ in range(count):
            self._failures.append((status, retry_after))

    # -- HTTP server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        """Listen (again) on the same port: `stop()` + `start()` is a node restart."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=4 * 2**20)
        app.router.add_route("*", "/_sim/{action}", self._control)
        app.router.add_route("*", "/{api:wallet|walletsolidity}/{method}", self._api)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        self._runner = runner

    async def stop(self) -> None:
        """Close the listener and every open connection: requests fail until `start()`."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def restart(self, downtime: float = 0.0) -> None:
        await self.stop()
        await asyncio.sleep(downtime)
        await self.start()

    async def close(self) -> None:
        await self.stop_producing()
        await self.stop()

    async def __aenter__(self) -> TronSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        body = await request.read()
        if not body.strip():
            return {}
        value = json.loads(body)
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value

    async def _api(self, request: web.Request) -> web.StreamResponse:
        api, method = request.match_info["api"], request.match_info["method"]
        self.requests.append((f"/{api}/{method}", request.headers.get("TRON-PRO-API-KEY")))
        if self._failures:
            status, retry_after = self._failures.popleft()
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
            return web.Response(status=status, text=f"HTTP {status}", headers=headers)
        solid = api == "walletsolidity"
        if solid and not self.solidity_api:
            raise web.HTTPNotFound()
        if method not in _METHODS or (solid and method == "getnodeinfo"):
            raise web.HTTPNotFound()
        try:
            params = await self._params(request)
        except ValueError as exc:
            return _json({"Error": f"class org.tron.json.JSONException : {exc}"})
        try:
            return self._dispatch(solid, method, params)
        except (KeyError, TypeError, ValueError) as exc:
            return _json({"Error": f"class java.lang.{type(exc).__name__} : {exc}"})

    def _dispatch(self, solid: bool, method: str, params: dict[str, Any]) -> web.Response:
        if method == "getnowblock":
            return self._get_now_block(solid)
        if method == "getblockbynum":
            return self._get_block_by_num(solid, params)
        if method == "gettransactioninfobyblocknum":
            return self._get_infos(solid, params)
        if method == "getnodeinfo":
            return self._node_info()
        return self._get_transaction(params, info=method == "gettransactioninfobyid")

    def _limit(self, solid: bool) -> int:
        return self.solid_number if solid else self.head.number

    def _get_now_block(self, solid: bool) -> web.Response:
        return _raw(self.blocks[self._limit(solid)].block_bytes())

    def _get_block_by_num(self, solid: bool, params: dict[str, Any]) -> web.Response:
        number = int(params.get("num", 0))
        if not 0 <= number <= self._limit(solid):
            return _raw(b"{}")
        return _raw(self.blocks[number].block_bytes())

    def _get_infos(self, solid: bool, params: dict[str, Any]) -> web.Response:
        number = int(params.get("num", 0))
        if number <= 0:
            return _raw(b"{}")
        if number > self._limit(solid):
            return _raw(b"[]")  # java-tron: an unknown block looks like an empty one
        return _raw(self.blocks[number].infos_bytes(self.logs_on_failure))

    def _get_transaction(self, params: dict[str, Any], info: bool) -> web.Response:
        found = self.find_transaction(str(params.get("value", "")).lower())
        if found is None:
            return _raw(b"{}")
        block, tx = found
        if info:
            return _json(tx.info_json(block.number, block.timestamp, self.logs_on_failure))
        return _json(tx.transaction_json())

    def _node_info(self) -> web.Response:
        head, solid = self.head, self.solid
        return _json(
            {
                "activeConnectCount": 3,
                "beginSyncNum": max(0, head.number - 20),
                "block": f"Num:{head.number},ID:{head.block_id}",
                "solidityBlock": f"Num:{solid.number},ID:{solid.block_id}",
                "currentConnectCount": 30,
                "passiveConnectCount": 27,
                "totalFlow": 0,
                "peerList": [],
                "configNodeInfo": {"codeVersion": "4.8.1", "p2pVersion": "11111"},
                "machineInfo": {},
                "cheatWitnessInfoMap": {},
            }
        )

    # -- control API for other processes (dev mode, benchmarks)

    async def _control(self, request: web.Request) -> web.StreamResponse:
        action = request.match_info["action"]
        try:
            params = await self._params(request)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        if action == "state":
            return _json(self.state())
        if action == "transfer":
            txid = self.transfer(
                str(params["token"]),
                str(params["from"]),
                str(params["to"]),
                int(params["amount"]),
                result=str(params.get("result", "SUCCESS")),
            )
            if params.get("produce"):
                self.produce()
            return _json({"txid": txid})
        if action == "produce":
            made = self.produce(int(params.get("count", 1)))
            return _json({"blocks": [b.number for b in made]})
        if action == "solidify":
            number = params.get("number")
            self.solidify(None if number is None else int(number))
            return _json(self.state())
        raise web.HTTPNotFound()

    def state(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "head": self.head.number,
            "solid": self.solid_number,
            "contracts": self.contracts,
            "pending": len(self.pending),
        }


def _raw(body: bytes) -> web.Response:
    return web.Response(body=body + b"\n", content_type="application/json")


def _json(value: Any) -> web.Response:
    return _raw(json.dumps(value, separators=(",", ":")).encode())


# -- standalone


async def _serve(args: argparse.Namespace) -> None:
    sim = TronSimulator(port=args.port, solidify_lag=args.solidify_lag)
    token = sim.deploy_token("TestUSDT")
    wallets = [sim_address(f"{sim.seed}/wallet/{i}") for i in range(args.wallets)]
    if args.prefill_blocks:
        sim.fill(
            args.prefill_blocks,
            args.txs_per_block,
            token=token,
            wallets=wallets,
            ours_per_block=args.ours_per_block,
        )
        for block in sim.blocks:  # serialize now: serving should not pay for building
            block.block_bytes()
            block.infos_bytes(sim.logs_on_failure)
    await sim.start()
    if args.block_time > 0:
        sim.start_producing(args.block_time)
    print(json.dumps({**sim.state(), "token": token, "wallets": wallets}), flush=True)
    stop = asyncio.Event()
    try:
        await stop.wait()
    finally:
        await sim.close()


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="java-tron HTTP API simulator")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--block-time", type=float, default=3.0, help="0: only on request")
    parser.add_argument("--solidify-lag", type=int, default=MAINNET_SOLIDIFY_LAG)
    parser.add_argument("--prefill-blocks", type=int, default=0)
    parser.add_argument("--txs-per-block", type=int, default=300)
    parser.add_argument("--wallets", type=int, default=3)
    parser.add_argument("--ours-per-block", type=int, default=1)
    args = parser.parse_args(list(argv) if argv is not None else None)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main(sys.argv[1:])


__all__ = [
    "BLOCK_INTERVAL_MS",
    "MAINNET_SOLIDIFY_LAG",
    "TRANSFER_TOPIC",
    "SimBlock",
    "SimTransaction",
    "TronSimulator",
    "hex20",
    "hex41",
    "sim_address",
]
