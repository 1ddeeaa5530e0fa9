"""A small, faithful Solana JSON-RPC node for tests, benchmarks and `dev` (no validator runs here).

An aiohttp server on 127.0.0.1: POST `/` answers JSON-RPC 2.0, a WebSocket on the same URL answers
the PubSub methods. Shapes follow the public Solana RPC docs (fixtures in
tests/watchers/fixtures/solana/ are the docs' examples, and the tests compare the simulator's
answers with them key by key):

    getSlot                   {commitment}: processed / confirmed / finalized (default finalized)
    getBlock                  slot, {commitment, transactionDetails: none|signatures, ...};
                              -32004 above the commitment's slot, -32007 for a skipped slot
    getBlocks                 start, end, {commitment}
    getSignaturesForAddress   address, {limit <= 1000, before, until, commitment}: newest first
    getTransaction            signature, {encoding: jsonParsed, commitment,
                              maxSupportedTransactionVersion}; null when unknown at that
                              commitment; -32015 for a v0 transaction without the version
    getTokenAccountsByOwner   owner, {mint} | {programId}, {encoding: jsonParsed}
    getHealth, getVersion, getGenesisHash
    logsSubscribe ({mentions: [one key]}), signatureSubscribe, slotSubscribe, and *Unsubscribe

The chain (`devkit.chain.solana_ledger.Ledger`) has real keys, signatures and instruction bytes;
this module renders them. Blocks are produced on demand (`produce()`) or every `slot_time`
seconds; each new block is `confirmed` at once (unless `hold_confirmation`) and `finalized`
`finality_lag` slots later. `abandon(slot)` drops confirmed blocks that will never finalize.
`fail_requests(n, 429)` throttles; `stop()`/`start()` make an outage on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Sequence
from typing import Any

from aiohttp import WSMsgType, web
from solders.keypair import Keypair

from devkit.chain.solana_ledger import Ledger, SimBlock, SimTx, ui_amount
from devkit.chain.solana_render import transaction_json
from watchers.solana_parse import TOKEN_PROGRAM


class RpcFault(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class SolanaSimulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        finality_lag: int = 2,
        slot_time: float = 0.4,
    ) -> None:
        self.ledger = Ledger()
        self.host, self.port = host, port
        self.finality_lag = finality_lag
        self.slot_time = slot_time
        self.hold_confirmation = False
        self.calls: dict[str, int] = {}
        self._faults: list[int] = []
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._subs: dict[int, tuple[web.WebSocketResponse, str, Any, str]] = {}
        self._sub_ids = itertools.count(1)
        self._producer: asyncio.Task[None] | None = None

    # -- driving the chain

    def create_mint(self, decimals: int = 6, address: str | None = None) -> str:
        return self.ledger.create_mint(decimals, address)

    def keypair(self, mint: str | None = None, funds: int = 0) -> Keypair:
        payer = Keypair()
        if mint is not None:
            self.ledger.fund(str(payer.pubkey()), mint, funds)
        return payer

    def transfer(self, payer: Keypair, to_owner: str, mint: str, amount: int, **kw: Any) -> str:
        return self.ledger.transfer(payer, to_owner, mint, amount, **kw)

    def produce(self, count: int = 1, skip: int = 0) -> list[SimBlock]:
        blocks = [self.ledger.produce(skip=skip) for _ in range(count)]
        if not self.hold_confirmation:
            self.confirm()
        return blocks

    def confirm(self, slot: int | None = None) -> None:
        ledger = self.ledger
        target = max(ledger.blocks) if slot is None else slot
        newly = [b for s, b in sorted(ledger.blocks.items()) if ledger.confirmed < s <= target]
        ledger.confirmed = max(ledger.confirmed, target)
        self._notify(newly, "confirmed")
        self.finalize(ledger.confirmed - self.finality_lag)

    def finalize(self, slot: int) -> None:
        ledger = self.ledger
        target = min(slot, ledger.confirmed)
        newly = [b for s, b in sorted(ledger.blocks.items()) if ledger.finalized < s <= target]
        if target > ledger.finalized:
            ledger.finalized = target
        self._notify(newly, "finalized")

    def abandon(self, from_slot: int) -> list[str]:
        return self.ledger.abandon(from_slot)

    def fail_requests(self, count: int, status: int = 429) -> None:
        self._faults.extend([status] * count)

    def start_producing(self, seconds: float | None = None) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds or self.slot_time)
                self.produce()

        self._producer = asyncio.create_task(loop())

    # -- server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 2**20)
        app.router.add_post("/", self._http)
        app.router.add_get("/", self._ws)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        if not self.port:
            server = self._site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        for ws, *_ in list(self._subs.values()):
            with contextlib.suppress(Exception):
                await ws.close()
        self._subs.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def close(self) -> None:
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        await self.stop()

    async def __aenter__(self) -> SolanaSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _http(self, request: web.Request) -> web.StreamResponse:
        if self._faults:
            status = self._faults.pop(0)
            return web.json_response(
                {"jsonrpc": "2.0", "error": {"code": status, "message": "Too many requests"}},
                status=status,
                headers={"Retry-After": "0"} if status == 429 else {},
            )
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response(
                {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
            )
        if isinstance(body, list):
            return web.json_response([self.answer(item) for item in body])
        return web.json_response(self.answer(body))

    def answer(self, body: Any) -> dict[str, Any]:
        request_id = body.get("id") if isinstance(body, dict) else None
        method = body.get("method") if isinstance(body, dict) else None
        params = body.get("params") or [] if isinstance(body, dict) else []
        self.calls[str(method)] = self.calls.get(str(method), 0) + 1
        handler = getattr(self, f"_rpc_{method}", None)
        if handler is None:
            error = {"code": -32601, "message": "Method not found"}
            return {"jsonrpc": "2.0", "error": error, "id": request_id}
        try:
            result = handler(*params)
        except RpcFault as fault:
            error = {"code": fault.code, "message": fault.message}
            return {"jsonrpc": "2.0", "error": error, "id": request_id}
        except (TypeError, ValueError, KeyError) as exc:
            error = {"code": -32602, "message": f"Invalid params: {exc}"}
            return {"jsonrpc": "2.0", "error": error, "id": request_id}
        return {"jsonrpc": "2.0", "result": result, "id": request_id}

    # -- HTTP methods

    def _rpc_getHealth(self) -> str:
        return "ok"

    def _rpc_getVersion(self) -> dict[str, Any]:
        return {"feature-set": 3294202862, "solana-core": "2.1.0"}

    def _rpc_getGenesisHash(self) -> str:
        return "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"

    def _rpc_getSlot(self, config: dict[str, Any] | None = None) -> int:
        return self.ledger.limit((config or {}).get("commitment", "finalized"))

    def _rpc_getBlock(self, slot: int, config: dict[str, Any] | None = None) -> Any:
        config = config or {}
        commitment = config.get("commitment", "finalized")
        if commitment == "processed":
            raise RpcFault(-32602, "Method does not support commitment below `confirmed`")
        if slot > self.ledger.limit(commitment):
            raise RpcFault(-32004, f"Block not available for slot {slot}")
        block = self.ledger.blocks.get(slot)
        if block is None:
            raise RpcFault(
                -32007, f"Slot {slot} was skipped, or missing due to ledger jump to recent snapshot"
            )
        result: dict[str, Any] = {
            "blockHeight": block.block_height,
            "blockTime": block.block_time,
            "blockhash": block.blockhash,
            "parentSlot": block.parent_slot,
            "previousBlockhash": block.previous_blockhash,
        }
        details = config.get("transactionDetails", "full")
        if details == "signatures":
            result["signatures"] = [tx.signature for tx in block.txs]
        elif details == "full":
            result["transactions"] = [
                {k: v for k, v in transaction_json(self.ledger, tx).items() if k != "slot"}
                for tx in block.txs
            ]
        if config.get("rewards", True):
            result["rewards"] = []
        return result

    def _rpc_getBlocks(
        self, start: int, end: int | None = None, config: dict[str, Any] | None = None
    ) -> list[int]:
        limit = self.ledger.limit((config or {}).get("commitment", "finalized"))
        top = min(limit, end if end is not None else limit)
        if top - start > 500_000:
            raise RpcFault(-32602, "Slot range too large; max 500000")
        return sorted(s for s in self.ledger.blocks if start <= s <= top)

    def _visible(self, commitment: str) -> list[SimTx]:
        limit = self.ledger.limit(commitment)
        return [
            tx
            for slot, block in sorted(self.ledger.blocks.items(), reverse=True)
            if slot <= limit
            for tx in reversed(block.txs)
        ]

    def _rpc_getSignaturesForAddress(
        self, address: str, config: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        config = config or {}
        limit = int(config.get("limit", 1000))
        if not 1 <= limit <= 1000:
            raise RpcFault(-32602, "Invalid limit; max 1000")
        commitment = config.get("commitment", "finalized")
        if commitment == "processed":
            raise RpcFault(-32602, "Method does not support commitment below `confirmed`")
        before, until = config.get("before"), config.get("until")
        found: list[dict[str, Any]] = []
        started = before is None
        for tx in self._visible(commitment):
            if not started:
                started = tx.signature == before
                continue
            if tx.signature == until:
                break
            if address not in tx.keys:
                continue
            found.append(
                {
                    "blockTime": tx.block_time,
                    "confirmationStatus": self.ledger.status(tx),
                    "err": tx.err,
                    "memo": None,
                    "signature": tx.signature,
                    "slot": tx.slot,
                }
            )
            if len(found) == limit:
                break
        return found

    def _rpc_getTransaction(
        self, signature: str, config: dict[str, Any] | str | None = None
    ) -> Any:
        config = config if isinstance(config, dict) else {"encoding": config or "json"}
        commitment = config.get("commitment", "finalized")
        if commitment == "processed":
            raise RpcFault(-32602, "Method does not support commitment below `confirmed`")
        tx = self.ledger.by_signature.get(signature)
        if tx is None or tx.slot < 0 or tx.slot > self.ledger.limit(commitment):
            return None
        if config.get("maxSupportedTransactionVersion") is None:
            raise RpcFault(
                -32015,
                "Transaction version (0) is not supported by the requesting client. Please try "
                'the request again with the following configuration parameter: "maxSupported'
                'TransactionVersion": 0',
            )
        if config.get("encoding", "json") != "jsonParsed":
            raise RpcFault(-32602, "this simulator serves encoding jsonParsed only")
        return transaction_json(self.ledger, tx)

    def _rpc_getTokenAccountsByOwner(
        self, owner: str, selector: dict[str, Any], config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if "mint" not in selector and selector.get("programId") != TOKEN_PROGRAM:
            raise RpcFault(-32602, "Invalid param: could not find mint or programId")
        value = []
        for account in self.ledger.accounts.values():
            if account.owner != owner or selector.get("mint", account.mint) != account.mint:
                continue
            info = {
                "isNative": False,
                "mint": account.mint,
                "owner": account.owner,
                "state": "initialized",
                "tokenAmount": ui_amount(account.amount, self.ledger.mints[account.mint]),
            }
            value.append(
                {
                    "account": {
                        "data": {
                            "parsed": {"info": info, "type": "account"},
                            "program": "spl-token",
                            "space": 165,
                        },
                        "executable": False,
                        "lamports": 2_039_280,
                        "owner": TOKEN_PROGRAM,
                        "rentEpoch": 18446744073709551615,
                        "space": 165,
                    },
                    "pubkey": account.address,
                }
            )
        return {"context": {"apiVersion": "2.1.0", "slot": self.ledger.slot}, "value": value}

    # -- PubSub

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            body = json.loads(message.data)
            await ws.send_json(self._subscribe(ws, body))
        for sub_id in [k for k, v in self._subs.items() if v[0] is ws]:
            del self._subs[sub_id]
        return ws

    def _subscribe(self, ws: web.WebSocketResponse, body: dict[str, Any]) -> dict[str, Any]:
        method, params, request_id = body.get("method"), body.get("params") or [], body.get("id")
        if str(method).endswith("Unsubscribe"):
            removed = self._subs.pop(int(params[0]), None) is not None
            return {"jsonrpc": "2.0", "result": removed, "id": request_id}
        config = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        commitment = config.get("commitment", "finalized")
        if method == "logsSubscribe":
            mentions = (params[0] or {}).get("mentions") if isinstance(params[0], dict) else None
            if not mentions or len(mentions) != 1:
                error = {"code": -32602, "message": "Invalid Request: Only 1 address supported"}
                return {"jsonrpc": "2.0", "error": error, "id": request_id}
            target: Any = mentions[0]
        elif method == "signatureSubscribe":
            target = params[0]
        elif method == "slotSubscribe":
            target, commitment = None, "processed"
        else:
            error = {"code": -32601, "message": "Method not found"}
            return {"jsonrpc": "2.0", "error": error, "id": request_id}
        sub_id = next(self._sub_ids)
        self._subs[sub_id] = (ws, str(method), target, commitment)
        return {"jsonrpc": "2.0", "result": sub_id, "id": request_id}

    def _notify(self, blocks: Sequence[SimBlock], commitment: str) -> None:
        for sub_id, (ws, method, target, wanted) in list(self._subs.items()):
            for block in blocks:
                if method == "slotSubscribe" and commitment == "confirmed":
                    value: Any = {"parent": block.parent_slot, "root": self.ledger.finalized}
                    self._send(ws, "slotNotification", sub_id, {**value, "slot": block.slot})
                    continue
                if wanted != commitment:
                    continue
                for tx in block.txs:
                    context = {"slot": block.slot}
                    if method == "logsSubscribe" and target in tx.keys:
                        value = {"signature": tx.signature, "err": tx.err, "logs": tx.logs}
                        self._send(
                            ws, "logsNotification", sub_id, {"context": context, "value": value}
                        )
                    elif method == "signatureSubscribe" and tx.signature == target:
                        result = {"context": context, "value": {"err": tx.err}}
                        self._send(ws, "signatureNotification", sub_id, result)
                        self._subs.pop(sub_id, None)

    def _send(self, ws: web.WebSocketResponse, method: str, sub_id: int, result: Any) -> None:
        message = {
            "jsonrpc": "2.0",
            "method": method,
            "params": {"result": result, "subscription": sub_id},
        }
        if not ws.closed:
            task = asyncio.get_running_loop().create_task(ws.send_json(message))
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)


__all__ = ["RpcFault", "SolanaSimulator", "transaction_json"]
