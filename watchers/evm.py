"""EVM chains: read ERC-20 Transfer logs to our wallets straight from JSON-RPC nodes (web3.py).

What this module does and why:

* **One `eth_getLogs` per block range** on all configured token contracts at once, filtered by the
  Transfer topic and by our wallets as topic 2 (the indexed `to`). The node does the filtering, so
  the cost is proportional to *our* transfers, not to the chain's traffic.
* **Adaptive ranges.** Nodes cap `eth_getLogs` (block span or result count) and say so with an
  error ("query returned more than 10000 results", "block range too large", "limit exceeded", …).
  On such an error the span is halved (or set to the range the node suggests) and the same blocks
  are asked again; after a run of successes it doubles back towards `max_block_range`. A query
  that times out on every URL is reported as an outage, and the next one asks for half as much.
* **Block times** come from the log's `blockTimestamp` when the node includes it (newer nodes do),
  otherwise from `eth_getBlockByHash` once per distinct block (cached). Fetching *by hash* also
  proves the block is still known: a log whose block vanished meanwhile makes the slice be read
  again instead of yielding a transfer from an orphaned block.
* **Several RPC URLs with failover.** Every call has a timeout; a connection error, timeout or
  node error moves on to the next URL, and the URL that answered is used first from then on
  (after `failback_after` seconds the first URL, normally the operator's own node, is tried again).
  `SourceUnavailable` is raised only when every URL failed.
* **newHeads push** when any URL is `ws://`/`wss://`: a background task keeps an
  `eth_subscribe("newHeads")` open (reconnecting with backoff, rotating over the WebSocket URLs),
  and `wait_for_new_head()` returns the moment a block is announced. Without a WebSocket URL, or
  while the subscription is down, it sleeps the poll interval and the runner polls
  `eth_blockNumber` through `head()`.

Addresses: compared and stored lowercase inside; `ObservedTransfer` carries EIP-55 checksummed
`contract_address`, `from_address` and `to_address` (what explorers and wallets show). Hashes are
lowercase 0x-hex. Requests go through web3's providers and request manager but without middleware
or result formatters: the raw JSON-RPC values are parsed here, which is both faster and exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Self

import aiohttp
from eth_utils.address import is_checksum_address, is_hex_address, to_checksum_address
from web3 import AsyncHTTPProvider, AsyncWeb3, WebSocketProvider
from web3.exceptions import Web3RPCError
from web3.providers.persistent import PersistentConnectionProvider
from web3.types import RPCEndpoint

from app.chains import Blockchain, ChainFamily, Coin
from watchers.base import (
    ObservedTransfer,
    SourceBase,
    SourceError,
    SourceMisconfigured,
    SourceUnavailable,
    no_blocks_in,
)
from watchers.failover import AllTimedOut, EndpointFailure, Rotation
from watchers.push import Push
from watchers.settings import SourceConfig, tokens_by_contract
from watchers.urls import is_websocket, redact

if TYPE_CHECKING:
    from app.config import ChainSettings

log = logging.getLogger("stablecheckout.watchers.evm")

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
"""keccak256("Transfer(address,address,uint256)")."""

RANGE_ERROR_MARKERS: tuple[str, ...] = (
    "query returned more than",  # geth, Infura: "query returned more than 10000 results"
    "range too large",
    "range is too large",
    "block range too wide",
    "range too wide",
    "limit exceeded",  # Infura -32005 and others
    "exceed maximum block range",
    "exceeds maximum block range",
    "exceeds the range",
    "max block range",
    "maximum block range",
    "block range limit",
    "block range is too",
    "response size exceeded",  # Alchemy
    "response size should not",
    "response is too big",
    "response too large",
    "too many blocks",
    "too many logs",
    "too many results",
    "query timeout exceeded",
    "is limited to",  # QuickNode: "eth_getLogs is limited to a 10,000 range"
    "ranges over",
    "try with this block range",
    "this block range should work",
)
"""Substrings (lowercase) by which nodes and providers say an eth_getLogs query was too big."""

_SUGGESTED_RANGE = re.compile(r"\[\s*(0x[0-9a-f]+|\d+)\s*,\s*(0x[0-9a-f]+|\d+)\s*\]")

_ZERO_PAD = "0" * 24

WEBSOCKET_KWARGS: dict[str, Any] = {
    # The websockets library refuses messages over 1 MiB by default and closes the connection,
    # which web3 surfaces only as a request that never answers: an eth_getLogs result of a few
    # thousand logs is bigger than that.
    "max_size": 128 * 2**20,
    # web3's default ping timeout is 5 minutes; a frozen node should be noticed much sooner.
    "ping_interval": 15,
    "ping_timeout": 20,
}


class RangeTooLarge(SourceError):
    """The node refused an eth_getLogs range as too large; `suggested_span` if it said what fits."""

    def __init__(self, message: str, suggested_span: int | None = None) -> None:
        super().__init__(message)
        self.suggested_span = suggested_span


class _StaleLogs(SourceError):
    """A log's block is no longer known to the node: the chain moved under the query."""


def is_range_error(message: str, code: int | None = None) -> bool:
    """Whether a JSON-RPC error to eth_getLogs means "ask for fewer blocks"."""
    text = message.lower()
    return code == -32005 or any(marker in text for marker in RANGE_ERROR_MARKERS)


def suggested_span(message: str) -> int | None:
    """The block span a node proposes in its error ("Try with this block range [0x1, 0x7d0]")."""
    match = _SUGGESTED_RANGE.search(message.lower())
    if match is None:
        return None
    low, high = (int(v, 16) if v.startswith("0x") else int(v) for v in match.groups())
    return high - low + 1 if high >= low else None


def normalize_address(address: str) -> str:
    """Lowercase 0x address; raise ValueError for anything that is not one.

    A mixed-case address must be a valid EIP-55 checksum: a typo in a wallet or contract address
    would silently send the watcher (and the shopper's money) to the wrong place.
    """
    value = address.strip()
    if not is_hex_address(value):
        raise ValueError(f"not an EVM address: {address!r}")
    body = value[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(value):
        raise ValueError(f"EVM address {address!r} has an invalid EIP-55 checksum (a typo?)")
    return "0x" + body.lower()


@lru_cache(maxsize=65536)
def checksum(address_lower: str) -> str:
    """EIP-55 spelling of a lowercase address (cached: the same wallets and contracts recur)."""
    return str(to_checksum_address(address_lower))


def address_topic(address_lower: str) -> str:
    """The 32-byte topic form of an address (left-padded with zeros), as indexed params are."""
    return "0x" + _ZERO_PAD + address_lower[2:]


@dataclass(frozen=True, slots=True)
class EvmToken:
    coin: Coin
    contract: str
    """Lowercase 0x address."""
    decimals: int


def _hex_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(str(value), 16)


def parse_transfer_log(
    entry: Mapping[str, Any],
    *,
    blockchain: Blockchain,
    tokens: Mapping[str, EvmToken],
    wallets: frozenset[str],
    block_time: datetime,
    outgoing: bool = False,
) -> ObservedTransfer | None:
    """Turn one raw JSON-RPC log into an ObservedTransfer, or None if it is not one of ours
    (`outgoing`: sent *from* one of our wallets, as refunds are, instead of to one).

    Re-checks everything the node was asked to filter (contract, topic, recipient): a node or
    proxy that ignores part of a filter must not make us record someone else's transfer. ERC-721
    Transfer logs share the topic but have 4 topics (token id indexed) and are rejected, as are
    pending logs (no block hash) and logs whose data is not exactly one uint256.
    """
    contract = str(entry.get("address", "")).lower()
    token = tokens.get(contract)
    if token is None:
        return None
    topics = entry.get("topics") or []
    if len(topics) != 3 or str(topics[0]).lower() != TRANSFER_TOPIC:
        return None
    from_address = "0x" + str(topics[1]).lower()[-40:]
    to_address = "0x" + str(topics[2]).lower()[-40:]
    if (from_address if outgoing else to_address) not in wallets:
        return None
    data = str(entry.get("data") or "0x")
    if len(data) != 66:
        return None
    block_hash = entry.get("blockHash")
    tx_hash = entry.get("transactionHash")
    if block_hash is None or tx_hash is None or entry.get("blockNumber") is None:
        return None
    return ObservedTransfer(
        blockchain=blockchain,
        token=token.coin,
        contract_address=checksum(contract),
        tx_hash=str(tx_hash).lower(),
        log_index=_hex_int(entry["logIndex"]),
        from_address=checksum(from_address),
        to_address=checksum(to_address),
        amount=int(data, 16),
        block_number=_hex_int(entry["blockNumber"]),
        block_hash=str(block_hash).lower(),
        block_time=block_time,
        removed=bool(entry.get("removed", False)),
    )


def _rpc_error(exc: Web3RPCError) -> tuple[str, int | None]:
    response = exc.rpc_response or {}
    error = response.get("error") if isinstance(response, Mapping) else None
    if isinstance(error, Mapping):
        code = error.get("code")
        message = str(error.get("message", ""))
        data = error.get("data")
        if isinstance(data, str) and data:
            message = f"{message} ({data})"
        return message, code if isinstance(code, int) else None
    return str(exc.message), None


class _Endpoint:
    """One RPC URL and its (lazily opened) web3 connection."""

    def __init__(self, url: str, request_timeout: float) -> None:
        self.url = url
        self.label = redact(url)
        self.is_ws = is_websocket(url)
        self._timeout = request_timeout
        self._w3: AsyncWeb3[Any] | None = None
        self._lock = asyncio.Lock()
        self.chain_checked = False

    @property
    def connected(self) -> bool:
        return self._w3 is not None

    async def connect(self) -> AsyncWeb3[Any]:
        if self._w3 is not None:
            return self._w3
        async with self._lock:
            if self._w3 is None:
                if self.is_ws:
                    ws_provider = WebSocketProvider(
                        self.url,
                        websocket_kwargs=WEBSOCKET_KWARGS,
                        max_connection_retries=1,
                        request_timeout=self._timeout,
                    )
                    # No middleware: raw results, parsed by this module.
                    w3: AsyncWeb3[Any] = AsyncWeb3(ws_provider, middleware=[])
                    await ws_provider.connect()
                else:
                    http_provider = AsyncHTTPProvider(
                        self.url,
                        request_kwargs={"timeout": aiohttp.ClientTimeout(total=self._timeout)},
                        # Failover is ours: web3's own retries would only delay it.
                        exception_retry_configuration=None,
                    )
                    w3 = AsyncWeb3(http_provider, middleware=[])
                self._w3 = w3
            return self._w3

    async def request(self, method: str, params: Sequence[Any]) -> Any:
        w3 = await self.connect()
        endpoint = RPCEndpoint(method)
        if isinstance(w3.provider, PersistentConnectionProvider):
            # socket_request registers the request, so an error answer is raised here and not in
            # the provider's background listener.
            return await w3.manager.socket_request(endpoint, list(params))
        return await w3.manager.coro_request(endpoint, list(params))

    async def reset(self) -> None:
        """Drop the connection (a broken WebSocket or HTTP session); the next call reconnects."""
        w3, self._w3 = self._w3, None
        self.chain_checked = False  # whatever answers at this URL next must show its chain again
        if w3 is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(w3.provider.disconnect(), 2.0)


class EvmSource(SourceBase):
    """`ChainSource` for one EVM chain over JSON-RPC. See the module docstring for the design."""

    family = ChainFamily.EVM

    def __init__(
        self,
        blockchain: Blockchain | str,
        rpc_urls: Sequence[str],
        tokens: Mapping[Coin | str, tuple[str, int]],
        wallets: Iterable[str],
        *,
        poll_interval: float = 2.0,
        request_timeout: float = 10.0,
        max_block_range: int = 2000,
        initial_block_range: int | None = None,
        min_block_range: int = 1,
        grow_after: int = 5,
        wallets_per_query: int = 500,
        block_time_concurrency: int = 8,
        block_cache_size: int = 4096,
        failback_after: float = 300.0,
        subscribe: bool = True,
        chain_id: int | None = None,
    ) -> None:
        """
        blockchain: wire id (`eth`, `polygon`, …). rpc_urls: http(s):// or ws(s):// URLs, in order
        of preference. tokens: {coin: (contract address, decimals)}. wallets: our receiving
        addresses on this chain. max_block_range: the largest eth_getLogs span ever asked;
        initial_block_range: where to start (default: the max). grow_after: successes in a row
        before the span doubles. wallets_per_query: topic-2 list size per query (nodes cap
        OR-lists). chain_id: when set, each URL's `eth_chainId` must equal it before the URL is
        used at all; a node of another chain raises `SourceMisconfigured`.
        """
        self._blockchain = Blockchain(blockchain)
        if not rpc_urls:
            raise ValueError(f"{self._blockchain}: at least one RPC URL is required")
        if min_block_range < 1 or max_block_range < min_block_range:
            raise ValueError("need 1 <= min_block_range <= max_block_range")
        self._endpoints = [_Endpoint(url, request_timeout) for url in rpc_urls]
        self._tokens = tokens_by_contract(self._blockchain, tokens, normalize_address, EvmToken)
        self._wallets = frozenset(normalize_address(w) for w in wallets)
        self._wallet_topics = sorted(address_topic(w) for w in self._wallets)
        self.poll_interval = poll_interval
        self.request_timeout = request_timeout
        self.max_block_range = max_block_range
        self.min_block_range = min_block_range
        self._span = max(
            min_block_range, min(initial_block_range or max_block_range, max_block_range)
        )
        self._grow_after = max(1, grow_after)
        self._successes = 0
        self._wallets_per_query = max(1, wallets_per_query)
        self._block_time_slots = asyncio.Semaphore(max(1, block_time_concurrency))
        self._block_times: OrderedDict[str, int] = OrderedDict()
        self._block_cache_size = block_cache_size
        self._rotation = Rotation(
            self._blockchain, [e.label for e in self._endpoints], failback_after
        )
        self._push = Push(
            f"{self._blockchain}: newHeads",
            [url for url in rpc_urls if is_websocket(url)],
            self._stream_heads,
            enabled=subscribe,
        )
        self._pushed_head: int | None = None
        self._closed = False
        self._chain_id = chain_id

    @classmethod
    def from_config(
        cls, config: SourceConfig, chain: ChainSettings, options: dict[str, Any]
    ) -> Self:
        """`chain_id` is `[chains.<id>] chain_id` when set, else the registry's."""
        options.setdefault(
            "chain_id", chain.chain_id if chain.chain_id is not None else config.info.evm_chain_id
        )
        return cls(config.blockchain, chain.rpc_urls, config.tokens, config.wallets, **options)

    # -- introspection (metrics, admin, tests)

    @property
    def tokens(self) -> dict[Coin, EvmToken]:
        return {token.coin: token for token in self._tokens.values()}

    @property
    def wallets(self) -> frozenset[str]:
        """Our wallet addresses, lowercase."""
        return self._wallets

    @property
    def active_url(self) -> str:
        """The RPC URL that answered last (tried first next time)."""
        return self._endpoints[self._rotation.active].url

    @property
    def block_range(self) -> int:
        """The eth_getLogs span currently used."""
        return self._span

    @property
    def subscribed(self) -> bool:
        """Whether a newHeads subscription is live right now."""
        return self._push.subscribed

    @property
    def pushed_head(self) -> int | None:
        """The latest block number announced over newHeads, if any."""
        return self._pushed_head

    # -- JSON-RPC with failover

    async def _request(self, method: str, params: Sequence[Any]) -> Any:
        if self._closed:
            raise SourceUnavailable(f"{self._blockchain}: source is closed")
        return await self._rotation.first_answer(
            method,
            lambda index: self._ask(self._endpoints[index], method, params),
            answers=(RangeTooLarge,),  # alive, unwilling: shrink, no failover
        )

    async def _ask(self, endpoint: _Endpoint, method: str, params: Sequence[Any]) -> Any:
        """One request to one URL, after its chain id check; `EndpointFailure` if it fails."""
        # A connection opened before (a WebSocket, or pooled HTTP keep-alive sockets) may have
        # died with a node restart: one immediate retry on a fresh connection tells a stale
        # socket from a dead node.
        tries = 2 if endpoint.connected else 1
        for attempt in range(tries):
            try:
                async with asyncio.timeout(self.request_timeout):
                    await self._check_chain(endpoint)
                    return await endpoint.request(method, params)
            except SourceMisconfigured:
                raise
            except Web3RPCError as exc:
                message, code = _rpc_error(exc)
                if method == "eth_getLogs" and is_range_error(message, code):
                    raise RangeTooLarge(message, suggested_span(message)) from exc
                raise EndpointFailure(f"error {code}: {message}") from None
            except TimeoutError:
                await endpoint.reset()
                raise EndpointFailure(
                    f"no answer within {self.request_timeout} s", timed_out=True
                ) from None
            except Exception as exc:  # noqa: BLE001 - any node failure: try the next URL
                await endpoint.reset()
                if attempt + 1 < tries:
                    continue
                raise EndpointFailure(f"{type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")

    async def _check_chain(self, endpoint: _Endpoint) -> None:
        """Refuse a node of another chain, once per URL, before it answers anything else.

        Checked per URL because failover may move to any of them: one mis-pointed backup URL would
        otherwise make the watcher read another chain's blocks on the day the first URL fails.
        """
        if self._chain_id is None or endpoint.chain_checked:
            return
        reported = _hex_int(await endpoint.request("eth_chainId", []))
        if reported != self._chain_id:
            raise SourceMisconfigured(
                f"{self._blockchain}: the node at {endpoint.label} is chain id {reported}, but "
                f"{self._blockchain} is configured as chain id {self._chain_id}: fix "
                f"[chains.{self._blockchain}] rpc_urls (or chain_id for a test network)"
            )
        endpoint.chain_checked = True

    # -- ChainSource

    async def chain_id(self) -> int:
        """`eth_chainId` of the node (the runner can check it against the configured chain)."""
        return _hex_int(await self._request("eth_chainId", []))

    async def head(self) -> int:
        return _hex_int(await self._request("eth_blockNumber", []))

    async def block_hash(self, number: int) -> str | None:
        if number < 0:
            return None
        block = await self._request("eth_getBlockByNumber", [hex(number), False])
        if not block:
            return None
        return str(block["hash"]).lower()

    async def transfers(self, from_block: int, to_block: int) -> list[ObservedTransfer]:
        return await self._read(from_block, to_block, outgoing=False)

    async def outgoing(self, from_block: int, to_block: int) -> list[ObservedTransfer]:
        """Transfers of our token contracts *from* our wallets (our wallet as topic 1), which is
        how the refunds an operator pays are recognised (`app.refunds.service`)."""
        return await self._read(from_block, to_block, outgoing=True)

    async def _read(
        self, from_block: int, to_block: int, *, outgoing: bool
    ) -> list[ObservedTransfer]:
        if no_blocks_in(from_block, to_block) or not self._wallets or not self._tokens:
            return []
        found: dict[tuple[str, int], ObservedTransfer] = {}
        start = from_block
        stale_retries = 0
        while start <= to_block:
            end = min(to_block, start + self._span - 1)
            try:
                entries = await self._logs(start, end, outgoing)
                batch = await self._with_block_times(entries, outgoing)
            except RangeTooLarge as exc:
                self._shrink(end - start + 1, exc)
                continue
            except AllTimedOut:
                # Maybe a dead node, maybe a query too heavy to answer in time: report the outage,
                # but ask for fewer blocks next time (the range grows back after successes).
                self._span = max(self.min_block_range, (end - start + 1) // 2)
                self._successes = 0
                raise
            except _StaleLogs as exc:
                stale_retries += 1
                if stale_retries > 3:
                    raise SourceUnavailable(f"{self._blockchain}: {exc}") from exc
                log.info("%s: %s; reading blocks %d-%d again", self._blockchain, exc, start, end)
                await asyncio.sleep(0.2 * stale_retries)
                continue
            self._grow(end - start + 1)
            for transfer in batch:
                if start <= transfer.block_number <= end:  # a node may over-answer; never trust
                    found[(transfer.tx_hash, transfer.log_index)] = transfer
            start = end + 1
        return sorted(found.values(), key=lambda t: (t.block_number, t.log_index))

    async def _logs(
        self, from_block: int, to_block: int, outgoing: bool = False
    ) -> list[Mapping[str, Any]]:
        contracts = sorted(self._tokens)
        entries: list[Mapping[str, Any]] = []
        size = self._wallets_per_query
        for offset in range(0, len(self._wallet_topics), size):
            wallet_topics = self._wallet_topics[offset : offset + size]
            query = {
                "fromBlock": hex(from_block),
                "toBlock": hex(to_block),
                "address": contracts,
                "topics": (
                    [TRANSFER_TOPIC, wallet_topics, None]
                    if outgoing
                    else [TRANSFER_TOPIC, None, wallet_topics]
                ),
            }
            result = await self._request("eth_getLogs", [query])
            entries.extend(result or [])
        return entries

    def _shrink(self, span: int, exc: RangeTooLarge) -> None:
        if span <= self.min_block_range:
            raise SourceUnavailable(
                f"{self._blockchain}: node refuses eth_getLogs even for {span} block(s): {exc}"
            ) from exc
        hint = exc.suggested_span
        new = hint if hint is not None and 0 < hint < span else span // 2
        self._span = max(self.min_block_range, new)
        self._successes = 0
        log.info(
            "%s: eth_getLogs over %d blocks refused (%s); now %d",
            self._blockchain,
            span,
            exc,
            self._span,
        )

    def _grow(self, span: int) -> None:
        if span < self._span:  # a short tail slice says nothing about the current span
            return
        self._successes += 1
        if self._successes >= self._grow_after and self._span < self.max_block_range:
            self._span = min(self.max_block_range, self._span * 2)
            self._successes = 0

    async def _with_block_times(
        self, entries: list[Mapping[str, Any]], outgoing: bool = False
    ) -> list[ObservedTransfer]:
        relevant = [e for e in entries if str(e.get("address", "")).lower() in self._tokens]
        missing: dict[str, int] = {}
        for entry in relevant:
            block_hash = entry.get("blockHash")
            if block_hash is None:
                continue
            key = str(block_hash).lower()
            stamp = entry.get("blockTimestamp")
            if stamp is not None:
                self._remember_block_time(key, _hex_int(stamp))
            elif key not in self._block_times:
                missing[key] = _hex_int(entry["blockNumber"])
        if missing:
            await asyncio.gather(*(self._fetch_block_time(h, n) for h, n in missing.items()))
        transfers: list[ObservedTransfer] = []
        for entry in relevant:
            block_hash = entry.get("blockHash")
            if block_hash is None:
                continue
            stamp = self._block_times.get(str(block_hash).lower())
            if stamp is None:  # evicted between fetch and use: only with a tiny cache
                raise _StaleLogs(f"block {block_hash} time not available")
            transfer = parse_transfer_log(
                entry,
                blockchain=self._blockchain,
                tokens=self._tokens,
                wallets=self._wallets,
                block_time=datetime.fromtimestamp(stamp, tz=UTC),
                outgoing=outgoing,
            )
            if transfer is not None:
                transfers.append(transfer)
        return transfers

    async def _fetch_block_time(self, block_hash: str, number: int) -> None:
        async with self._block_time_slots:
            block = await self._request("eth_getBlockByHash", [block_hash, False])
        if not block:
            raise _StaleLogs(f"block {number} ({block_hash}) is no longer known to the node")
        if _hex_int(block["number"]) != number:
            raise _StaleLogs(f"block {block_hash} moved from height {number}")
        self._remember_block_time(block_hash, _hex_int(block["timestamp"]))

    def _remember_block_time(self, block_hash: str, timestamp: int) -> None:
        self._block_times[block_hash] = timestamp
        self._block_times.move_to_end(block_hash)
        while len(self._block_times) > self._block_cache_size:
            self._block_times.popitem(last=False)

    # -- new heads

    async def wait_for_new_head(self, timeout: float) -> None:
        await self._push.wait(timeout, self.poll_interval)

    async def subscribe_heads(self, timeout: float = 5.0) -> bool:
        """Start the newHeads subscription now (instead of on the first wait) and wait until it
        is live. Returns False without a WebSocket URL or if it is not live within `timeout`."""
        return await self._push.start(timeout)

    async def _stream_heads(self, url: str) -> None:
        """One newHeads subscription on `url`, until the node ends it."""
        provider = WebSocketProvider(
            url,
            websocket_kwargs=WEBSOCKET_KWARGS,
            max_connection_retries=1,
            request_timeout=self.request_timeout,
        )
        w3: AsyncWeb3[Any] = AsyncWeb3(provider)
        try:
            async with asyncio.timeout(self.request_timeout):
                await provider.connect()
                await w3.eth.subscribe("newHeads")
            self._push.live(url)
            async for message in w3.socket.process_subscriptions():
                result = message.get("result")
                number = result.get("number") if isinstance(result, Mapping) else None
                if number is not None:
                    head = _hex_int(number)
                    if self._pushed_head is None or head > self._pushed_head:
                        self._pushed_head = head
                self._push.wake()
        finally:
            self._push.lost()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(provider.disconnect(), 2.0)

    # -- lifecycle

    async def close(self) -> None:
        self._closed = True
        await self._push.close()
        for endpoint in self._endpoints:
            await endpoint.reset()

    def __repr__(self) -> str:
        urls = ", ".join(e.label for e in self._endpoints)
        return f"<EvmSource {self._blockchain} [{urls}] tokens={len(self._tokens)}>"


__all__ = [
    "RANGE_ERROR_MARKERS",
    "TRANSFER_TOPIC",
    "EvmSource",
    "EvmToken",
    "RangeTooLarge",
    "address_topic",
    "checksum",
    "is_range_error",
    "normalize_address",
    "parse_transfer_log",
    "suggested_span",
]
