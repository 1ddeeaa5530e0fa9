"""Solana: SPL token (USDC, USDT) payments to our wallets, read over standard Solana JSON-RPC.

How the block-based `ChainSource` maps onto Solana:

* **Blocks are slots.** `head()` is the latest slot at `confirmed` commitment (`getSlot`): a
  transfer is *detected* there. `finalized_head()` is the `finalized` slot: the runner pays a
  transfer only once its slot is finalized, which is Solana's confirmation depth (the configured
  `confirmations` is unused; the nominal 32 only numbers the "k of n" progress on the page).
* **`block_hash(slot)`** is the slot's `blockhash` (`getBlock`, no transactions). A skipped slot
  has no block: it is given the hash of the newest block before it (`getBlocks`), so it still
  changes when a fork replaces that block. Hashes of finalized slots never change and are cached.
  A `confirmed` block that is abandoned (never finalizes) changes the hash at its slot, the runner
  rewinds, and the transfers read from it are orphaned: they never pay.
* **Where payments arrive.** A wallet is the owner address. Each token is paid into the owner's
  associated token account for the mint (derived, watched even before it exists) or into any other
  token account the owner holds for the mint (`getTokenAccountsByOwner`, refreshed every
  `account_refresh` seconds). `ObservedTransfer.to_address` is the owner (the configured wallet);
  `from_address` is the sending owner.
* **Reading a slot range.** For each token account, `getSignaturesForAddress` at `confirmed`,
  paged backwards with `before` (1,000 a page) until a page reaches below the range (`until` stops
  at the newest signature a previous call already read past, when there is one). Failed
  transactions (`err` set) are skipped here and again by `meta.err`. Each remaining signature is
  read once with `getTransaction` (`jsonParsed`, `maxSupportedTransactionVersion: 0`) and parsed
  by `watchers.solana_parse` (outer and inner `transfer`/`transferChecked`, checked against
  `pre`/`postTokenBalances`).
* **Push.** With a `ws://`/`wss://` URL a background task keeps `logsSubscribe` (`mentions` one of
  our token accounts, `confirmed`) open for every account, and `signatureSubscribe` at `finalized`
  for every transfer seen but not yet final: `wait_for_new_head()` returns on either, so a payment
  is detected within a round trip of its confirmation and paid within one of its finalization.
  Without one, or while it is down, the runner polls every `poll_interval`.

Identifiers: `tx_hash` is the transaction signature and `block_hash` the blockhash, both base58
and case-sensitive, stored exactly as the node prints them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

import msgspec
from solders.pubkey import Pubkey

from app.chains import Blockchain, ChainFamily, Coin
from watchers.base import ObservedTransfer, SourceBase, SourceError, SourceUnavailable, no_blocks_in
from watchers.push import Push
from watchers.settings import SourceConfig
from watchers.solana_parse import (
    ASSOCIATED_TOKEN_PROGRAM,
    TOKEN_PROGRAM,
    ParsedTransaction,
    WatchedAccount,
    parse_transaction,
)
from watchers.solana_rpc import RpcError, SolanaRpc
from watchers.urls import is_websocket, redact

if TYPE_CHECKING:
    from app.config import ChainSettings

log = logging.getLogger("stablecheckout.watchers.solana")

SKIPPED = frozenset({-32007, -32009})
NOT_AVAILABLE = frozenset({-32004})
PAGE = 1000
SKIP_LOOKBACK = 512


def associated_token_account(owner: str, mint: str, token_program: str = TOKEN_PROGRAM) -> str:
    """The owner's associated token account for `mint` (the address wallets pay into)."""
    address, _ = Pubkey.find_program_address(
        [
            bytes(Pubkey.from_string(owner)),
            bytes(Pubkey.from_string(token_program)),
            bytes(Pubkey.from_string(mint)),
        ],
        Pubkey.from_string(ASSOCIATED_TOKEN_PROGRAM),
    )
    return str(address)


class SolanaSource(SourceBase):
    """`ChainSource` for Solana over JSON-RPC. See the module docstring for the design."""

    family = ChainFamily.SOLANA

    def __init__(
        self,
        rpc_urls: Sequence[str],
        tokens: Mapping[Coin | str, tuple[str, int]],
        wallets: Iterable[str],
        *,
        poll_interval: float = 2.0,
        request_timeout: float = 10.0,
        concurrency: int = 16,
        account_refresh: float = 60.0,
        subscribe: bool = True,
        failback_after: float = 300.0,
        throttle_retries: int = 3,
        page_size: int = PAGE,
    ) -> None:
        http_urls = [u for u in rpc_urls if not is_websocket(u)]
        self._ws_urls = [u for u in rpc_urls if is_websocket(u)]
        self._blockchain = Blockchain.SOLANA
        self._rpc = SolanaRpc(
            http_urls,
            request_timeout=request_timeout,
            failback_after=failback_after,
            throttle_retries=throttle_retries,
        )
        self._mints: dict[str, Coin] = {}
        for coin, (mint, _decimals) in tokens.items():
            Pubkey.from_string(mint)
            self._mints[mint] = Coin(coin)
        self._owners = sorted({str(Pubkey.from_string(w)) for w in wallets})
        self.poll_interval = poll_interval
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._account_refresh = account_refresh
        self._accounts: dict[str, WatchedAccount] = {}
        self._accounts_at = -1e18
        self._final_hashes: OrderedDict[int, str] = OrderedDict()
        self._finalized = -1
        self._parsed: OrderedDict[tuple[str, int], ParsedTransaction] = OrderedDict()
        self._pending_final: dict[str, int] = {}
        self._anchors: dict[str, tuple[int, str]] = {}
        self._push = Push("solana: pubsub", self._ws_urls, self._stream, enabled=subscribe)
        self._ws_accounts: frozenset[str] = frozenset()
        self._closed = False
        self._page = page_size

    @classmethod
    def from_config(
        cls, config: SourceConfig, chain: ChainSettings, options: dict[str, Any]
    ) -> Self:
        """`rpc_urls`: the http(s) ones answer requests, the ws(s) ones push."""
        return cls(chain.rpc_urls, config.tokens, config.wallets, **options)

    @property
    def rpc(self) -> SolanaRpc:
        return self._rpc

    @property
    def subscribed(self) -> bool:
        return self._push.subscribed

    # -- slots and hashes

    async def head(self) -> int:
        return int(await self._rpc.call("getSlot", [{"commitment": "confirmed"}]))

    async def finalized_head(self) -> int:
        slot = int(await self._rpc.call("getSlot", [{"commitment": "finalized"}]))
        self._finalized = max(self._finalized, slot)
        for signature, at in list(self._pending_final.items()):
            if at <= slot:
                del self._pending_final[signature]
        return slot

    async def _block(self, slot: int) -> dict[str, Any] | None:
        """The block at `slot` (`confirmed`), None if skipped; raises RpcError if not there yet."""
        try:
            block = await self._rpc.call(
                "getBlock",
                [
                    slot,
                    {
                        "commitment": "confirmed",
                        "encoding": "json",
                        "transactionDetails": "none",
                        "rewards": False,
                        "maxSupportedTransactionVersion": 0,
                    },
                ],
            )
        except RpcError as exc:
            if exc.code in SKIPPED:
                return None
            raise
        return block if isinstance(block, dict) else None

    async def block_hash(self, number: int) -> str | None:
        if number < 0:
            return None
        cached = self._final_hashes.get(number)
        if cached is not None:
            return cached
        try:
            block = await self._block(number)
            if block is None:
                value = await self._skipped_slot_hash(number)
            else:
                value = str(block["blockhash"])
        except RpcError as exc:
            if exc.code in NOT_AVAILABLE:
                return None
            raise SourceUnavailable(f"solana: getBlock {number}: {exc}") from exc
        if number <= self._finalized:
            self._final_hashes[number] = value
            while len(self._final_hashes) > 4096:
                self._final_hashes.popitem(last=False)
        return value

    async def _skipped_slot_hash(self, slot: int) -> str:
        start = max(0, slot - SKIP_LOOKBACK)
        slots = await self._rpc.call("getBlocks", [start, slot, {"commitment": "confirmed"}])
        earlier = [s for s in slots or [] if s < slot]
        if not earlier:
            return f"skipped:{start}-{slot}"
        block = await self._block(max(earlier))
        return f"skipped-after:{block['blockhash']}" if block else f"skipped:{slot}"

    # -- accounts

    async def accounts(self) -> dict[str, WatchedAccount]:
        """Our token accounts: every owner's ATA per mint plus the accounts the node lists."""
        if time.monotonic() - self._accounts_at < self._account_refresh:
            return self._accounts
        found: dict[str, WatchedAccount] = {}
        for owner in self._owners:
            for mint in self._mints:
                ata = associated_token_account(owner, mint)
                found[ata] = WatchedAccount(ata, owner, mint)
            answer = await self._rpc.call(
                "getTokenAccountsByOwner",
                [
                    owner,
                    {"programId": TOKEN_PROGRAM},
                    {"encoding": "jsonParsed", "commitment": "confirmed"},
                ],
            )
            for item in (answer or {}).get("value") or []:
                info = ((item.get("account") or {}).get("data") or {}).get("parsed") or {}
                info = info.get("info") or {}
                mint, holder = str(info.get("mint")), info.get("owner")
                if mint in self._mints and holder == owner:
                    found[str(item["pubkey"])] = WatchedAccount(str(item["pubkey"]), owner, mint)
        self._accounts, self._accounts_at = found, time.monotonic()
        return found

    # -- transfers

    async def _signatures(self, account: str, from_slot: int, to_slot: int) -> list[str]:
        """Successful signatures touching `account` in [from_slot, to_slot], oldest first."""
        wanted: list[str] = []
        before: str | None = None
        known = self._anchors.get(account)
        # `until` is only safe below the range: a range read again (a rewind) must page past it.
        anchor = known[1] if known is not None and known[0] < from_slot else None
        newest: tuple[int, str] | None = None
        while True:
            config: dict[str, Any] = {"limit": self._page, "commitment": "confirmed"}
            if before is not None:
                config["before"] = before
            if anchor is not None:
                config["until"] = anchor  # a hint only: paging also stops below the range
            page = await self._rpc.call("getSignaturesForAddress", [account, config])
            if not page:
                break
            for entry in page:
                slot = int(entry["slot"])
                if slot <= to_slot and (newest is None or slot > newest[0]):
                    newest = (slot, str(entry["signature"]))
                if from_slot <= slot <= to_slot and entry.get("err") is None:
                    wanted.append(str(entry["signature"]))
            before = str(page[-1]["signature"])
            if len(page) < self._page or int(page[-1]["slot"]) < from_slot:
                break
        if newest is not None:
            self._anchors[account] = newest
        wanted.reverse()
        return wanted

    async def _transaction(
        self, signature: str, accounts: Mapping[str, WatchedAccount]
    ) -> ParsedTransaction:
        async with self._slots:
            tx = await self._rpc.call(
                "getTransaction",
                [
                    signature,
                    {
                        "commitment": "confirmed",
                        "encoding": "jsonParsed",
                        "maxSupportedTransactionVersion": 0,
                    },
                ],
            )
        if not tx:
            raise SourceError(f"solana: transaction {signature} listed but not found (a fork?)")
        parsed = parse_transaction(tx, signature, accounts)
        if parsed.inconsistent:
            log.error("solana.balance_mismatch signature=%s %s", signature, parsed.inconsistent)
        return parsed

    async def transfers(self, from_block: int, to_block: int) -> list[ObservedTransfer]:
        if no_blocks_in(from_block, to_block) or not self._owners:
            return []
        accounts = await self.accounts()
        self._want_logs(accounts)
        lists = await asyncio.gather(
            *(self._signatures(a, from_block, to_block) for a in sorted(accounts))
        )
        signatures = list(dict.fromkeys(s for found in lists for s in found))
        parsed = await asyncio.gather(*(self._transaction(s, accounts) for s in signatures))
        slots = sorted({p.slot for p in parsed if p.transfers})
        blocks = dict(
            zip(slots, await asyncio.gather(*(self._block(s) for s in slots)), strict=True)
        )
        found: list[ObservedTransfer] = []
        for tx in parsed:
            block = blocks.get(tx.slot)
            if not tx.transfers:
                continue
            if block is None:
                raise SourceError(f"solana: slot {tx.slot} of {tx.signature} has no block now")
            stamp = tx.block_time if tx.block_time is not None else block.get("blockTime")
            for t in tx.transfers:
                found.append(
                    ObservedTransfer(
                        blockchain=Blockchain.SOLANA,
                        token=self._mints[t.mint],
                        contract_address=t.mint,
                        tx_hash=t.signature,
                        log_index=t.log_index,
                        from_address=t.sender,
                        to_address=t.destination.owner,
                        amount=t.amount,
                        block_number=tx.slot,
                        block_hash=str(block["blockhash"]),
                        block_time=datetime.fromtimestamp(int(stamp or 0), tz=UTC),
                        references=t.references,
                    )
                )
                if tx.slot > self._finalized:
                    self._pending_final[t.signature] = tx.slot
        found.sort(key=lambda t: (t.block_number, t.tx_hash, t.log_index))
        return found

    # -- push

    def _want_logs(self, accounts: Mapping[str, WatchedAccount]) -> None:
        if self._push.enabled and frozenset(accounts) != self._ws_accounts:
            self._ws_accounts = frozenset(accounts)
            self._push.restart()  # resubscribe with the new account list

    async def wait_for_new_head(self, timeout: float) -> None:
        await self._push.wait(timeout, self.poll_interval)

    async def subscribe(self, timeout: float = 5.0) -> bool:
        """Open the subscriptions now and wait until they are live (False without a ws URL)."""
        if self._push.enabled and not self._ws_accounts:
            self._want_logs(await self.accounts())
        return await self._push.start(timeout)

    async def _stream(self, url: str) -> None:
        """`logsSubscribe` on every token account, `signatureSubscribe` on every transfer seen but
        not final; wakes the runner on each notification."""
        from websockets.asyncio.client import connect

        ids = iter(range(1, 1 << 30))
        async with connect(url, max_size=64 * 2**20, ping_interval=15) as ws:
            for account in sorted(self._ws_accounts):
                request = {
                    "jsonrpc": "2.0",
                    "id": next(ids),
                    "method": "logsSubscribe",
                    "params": [{"mentions": [account]}, {"commitment": "confirmed"}],
                }
                await ws.send(msgspec.json.encode(request).decode())
            watched: set[str] = set()
            self._push.live(url)
            while not self._closed:
                for signature in sorted(set(self._pending_final) - watched):
                    watched.add(signature)
                    request = {
                        "jsonrpc": "2.0",
                        "id": next(ids),
                        "method": "signatureSubscribe",
                        "params": [signature, {"commitment": "finalized"}],
                    }
                    await ws.send(msgspec.json.encode(request).decode())
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.25)
                except TimeoutError:
                    continue
                message = msgspec.json.decode(raw)
                if message.get("method") == "signatureNotification":
                    self._push.wake()
                elif message.get("method") == "logsNotification":
                    value = message["params"]["result"]["value"]
                    if value.get("err") is None:
                        self._push.wake()

    async def close(self) -> None:
        self._closed = True
        await self._push.close()
        await self._rpc.close()

    def __repr__(self) -> str:
        urls = ", ".join(redact(u) for u in self._rpc.urls + self._ws_urls)
        return f"<SolanaSource [{urls}] mints={len(self._mints)} wallets={len(self._owners)}>"


__all__ = ["SolanaSource", "associated_token_account"]
