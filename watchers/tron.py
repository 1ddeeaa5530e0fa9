"""TRON: read TRC-20 Transfer logs to our wallets straight from the java-tron HTTP API (httpx).

What this module does and why:

* **Per block, one `wallet/gettransactioninfobyblocknum`.** java-tron has no `eth_getLogs`-like
  filter over its HTTP API, but it returns the execution results (receipt and logs) of every
  transaction of a block in one call. The logs of the configured token contracts whose topic 2
  (the indexed `to`) is one of our wallets are kept; everything else is dropped unread.
* **Failed transactions never pay.** A transaction info counts only when `receipt.result` is
  `SUCCESS` and the info has no `result: FAILED`. java-tron's own JSON-RPC calls DEFAULT (no
  `receipt.result`) a success too, but that value belongs to transactions the TVM never ran (TRX
  transfers, staking, …), which emit no logs; a log-bearing info without `SUCCESS` is an anomaly,
  skipped with a warning rather than credited. The java-tron docs say the same: check the result
  before parsing logs.
* **Block hash and time** come from `wallet/getblockbynum` of the same node, fetched only for
  blocks that hold one of our transfers; the block's transaction ids must be exactly the infos'
  ids, otherwise the chain moved between the two reads and the blocks are read again.
* **One node per range.** java-tron answers `[]` for a block it does not have yet, exactly as for
  an empty block. So a range is read from a single node that has first shown it has the range's
  last block; if that node fails, the whole range is read again from the next one.
* **Finality.** With `confirmations = 0` (the TRON default) a transfer pays once its block is
  *solidified* (confirmed by 2/3 of the super representatives, ~19 blocks, about a minute on
  mainnet): `head()` then reports the latest solidified block (`walletsolidity/getnowblock`, or
  the `solidityBlock` of `wallet/getnodeinfo` on a node that serves no `/walletsolidity/` on this
  URL), so the runner sees a transfer only once it is final and counts that as its one required
  confirmation. The trade-off: no "payment detected" push before solidification. With
  `confirmations = N > 0`, `head()` is the latest block and the usual depth rule applies (detected
  at 1, paid at N; N = 20 is about the solidification depth).
* **Several URLs with failover**, per-request timeouts, and backoff on HTTP 429/503 (honouring
  `Retry-After`, capped) before moving to the next URL. The `TRON-PRO-API-KEY` header is sent on
  every request when an API key is configured, whatever the host.
* **New heads by timed polling.** TRON makes a block every 3 s; `wait_for_new_head()` sleeps
  until just before the next block is due (one interval after the head was last seen to move),
  then polls every `min_poll` until it moves (never sleeping longer than the poll interval).

Spellings: addresses in `ObservedTransfer` are base58check (`T…`), as wallets and explorers show
them; `tx_hash` is the transaction id and `block_hash` the blockID, both 64 lowercase hex digits
without 0x (TRON's own spelling, what TronScan links use). `log_index` is the position of the log
in its transaction's `log` list (TronGrid's `event_index`): unique with the tx id, so two Transfer
logs of one transaction are two transfers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

import httpx
import msgspec
from tronpy.keys import to_base58check_address, to_hex_address

from app.chains import Blockchain, ChainFamily, Coin
from watchers.base import ObservedTransfer, SourceBase, SourceError, SourceUnavailable, no_blocks_in
from watchers.failover import THROTTLED, EndpointFailure, Rotation, Throttled, retry_throttled
from watchers.settings import SourceConfig, chain_of_family, tokens_by_contract
from watchers.urls import redact

if TYPE_CHECKING:
    from app.config import ChainSettings

log = logging.getLogger("stablecheckout.watchers.tron")

TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
"""keccak256("Transfer(address,address,uint256)"), hex without 0x as TRON prints topics."""
API_KEY_HEADER = "TRON-PRO-API-KEY"
BLOCK_INTERVAL = 3.0
"""Seconds between TRON blocks."""
MAX_NEEDLES = 256
"""Up to this many wallets, a block's infos are searched for them before being decoded."""

Finality = Literal["solidified", "head"]
T = TypeVar("T")

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NODEINFO_NUM = re.compile(r"Num:(\d+)")


class _NotFound(EndpointFailure):
    """HTTP 404: this URL does not serve the path."""


class _Lagging(EndpointFailure):
    """The node does not have the blocks asked for yet."""


class _StaleRead(SourceError):
    """The chain moved between two reads of the same block: read again."""


# -- addresses


@lru_cache(maxsize=65536)
def base58_of(hex20: str) -> str:
    """T… address of a 40-hex (log / topic) address."""
    return str(to_base58check_address("41" + hex20))


def hex20_of(address: str) -> str:
    """40 lowercase hex digits (no `41`) of a T… address; ValueError for anything else."""
    value = address.strip()
    if not value.startswith("T"):
        raise ValueError(f"not a base58 TRON address: {address!r}")
    try:
        raw = str(to_hex_address(value)).lower()
    except Exception as exc:  # noqa: BLE001 - tronpy raises several kinds
        raise ValueError(f"not a valid TRON address: {address!r} ({exc})") from None
    if len(raw) != 42 or not raw.startswith("41") or base58_of(raw[2:]) != value:
        raise ValueError(f"not a valid TRON address: {address!r}")
    return raw[2:]


def _log_address(value: Any) -> str | None:
    """A log's contract address as 40 hex digits; tolerates a `41` prefix."""
    text = str(value or "").lower()
    if text.startswith("0x"):
        text = text[2:]
    if len(text) == 42 and text.startswith("41"):
        text = text[2:]
    return text if _HEX40.match(text) else None


def _hex(value: Any) -> str:
    text = str(value or "").lower()
    return text[2:] if text.startswith("0x") else text


# -- parsing (pure: tested on recorded node responses)


@dataclass(frozen=True, slots=True)
class TronToken:
    coin: Coin
    contract: str
    """base58 T… address."""
    hex20: str
    decimals: int


@dataclass(frozen=True, slots=True)
class TronBlock:
    number: int
    block_id: str
    """blockID: 64 lowercase hex digits."""
    timestamp_ms: int
    parent_hash: str
    tx_ids: tuple[str, ...]

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)


def parse_block(data: Any) -> TronBlock | None:
    """A java-tron Block (getnowblock / getblockbynum); None for `{}` (no such block).

    Fields with protobuf default values are absent in java-tron's JSON: the genesis block has no
    `number` and no `timestamp`, a block without transactions no `transactions`.
    """
    if not isinstance(data, Mapping):
        raise EndpointFailure(f"expected a block object, got {type(data).__name__}")
    if not data:
        return None
    if "Error" in data:
        raise EndpointFailure(f"node error: {str(data['Error'])[:300]}")
    block_id = _hex(data.get("blockID"))
    header = data.get("block_header")
    raw = header.get("raw_data") if isinstance(header, Mapping) else None
    if not _HEX64.match(block_id) or not isinstance(raw, Mapping):
        raise EndpointFailure(f"malformed block: {str(data)[:300]}")
    transactions = data.get("transactions") or []
    tx_ids = tuple(_hex(tx.get("txID")) for tx in transactions if isinstance(tx, Mapping))
    return TronBlock(
        number=int(raw.get("number", 0)),
        block_id=block_id,
        timestamp_ms=int(raw.get("timestamp", 0)),
        parent_hash=_hex(raw.get("parentHash")),
        tx_ids=tx_ids,
    )


def solidified_number(nodeinfo: Any) -> int | None:
    """The solidified block number in a wallet/getnodeinfo answer ("Num:N,ID:HASH")."""
    if not isinstance(nodeinfo, Mapping):
        return None
    match = _NODEINFO_NUM.match(str(nodeinfo.get("solidityBlock", "")))
    return int(match.group(1)) if match else None


def info_succeeded(info: Mapping[str, Any]) -> bool:
    """Whether a transaction info says the contract call succeeded (see the module docstring)."""
    if info.get("result") == "FAILED":
        return False
    receipt = info.get("receipt")
    return isinstance(receipt, Mapping) and receipt.get("result") == "SUCCESS"


@dataclass(frozen=True, slots=True)
class _Candidate:
    tx_id: str
    log_index: int
    token: TronToken
    from_hex: str
    to_hex: str
    amount: int


def candidate_transfers(
    info: Mapping[str, Any],
    tokens: Mapping[str, TronToken],
    wallets: frozenset[str],
    outgoing: bool = False,
) -> list[_Candidate]:
    """Transfer logs in one transaction info of our tokens to our wallets (hex20 keys), or from
    them with `outgoing` (the refunds an operator pays, `app.refunds`).

    Re-checks what matters: the emitting contract (never a symbol), the event signature, three
    topics (ERC-721-style Transfers with an indexed id have four), a one-word amount, and a
    successful transaction.
    """
    logs = info.get("log")
    if not logs:
        return []
    found: list[_Candidate] = []
    for index, entry in enumerate(logs):
        if not isinstance(entry, Mapping):
            continue
        address = _log_address(entry.get("address"))
        token = tokens.get(address) if address else None
        if token is None:
            continue
        topics = entry.get("topics") or []
        if len(topics) != 3 or _hex(topics[0]) != TRANSFER_TOPIC:
            continue
        to_topic, from_topic = _hex(topics[2]), _hex(topics[1])
        ours = (from_topic if outgoing else to_topic)[-40:]
        if len(to_topic) != 64 or len(from_topic) != 64 or ours not in wallets:
            continue
        data = _hex(entry.get("data"))
        if len(data) != 64:
            continue
        found.append(
            _Candidate(
                tx_id=_hex(info.get("id")),
                log_index=index,
                token=token,
                from_hex=from_topic[-40:],
                to_hex=to_topic[-40:],
                amount=int(data, 16),
            )
        )
    if found and not info_succeeded(info):
        receipt = info.get("receipt")
        result = receipt.get("result") if isinstance(receipt, Mapping) else None
        if result is None and info.get("result") != "FAILED":
            log.warning(
                "tron: transaction %s has Transfer logs to our wallets but no receipt result; "
                "not counted",
                info.get("id"),
            )
        return []
    return found


def transfers_from_infos(
    infos: Sequence[Any],
    block: TronBlock,
    *,
    blockchain: Blockchain,
    tokens: Mapping[str, TronToken],
    wallets: frozenset[str],
) -> list[ObservedTransfer]:
    """The ObservedTransfers of one block's transaction infos (gettransactioninfobyblocknum)."""
    out: list[ObservedTransfer] = []
    for info in infos:
        if not isinstance(info, Mapping):
            continue
        for c in candidate_transfers(info, tokens, wallets):
            out.append(_observed(c, block, blockchain))
    return out


def _observed(c: _Candidate, block: TronBlock, blockchain: Blockchain) -> ObservedTransfer:
    return ObservedTransfer(
        blockchain=blockchain,
        token=c.token.coin,
        contract_address=c.token.contract,
        tx_hash=c.tx_id,
        log_index=c.log_index,
        from_address=base58_of(c.from_hex),
        to_address=base58_of(c.to_hex),
        amount=c.amount,
        block_number=block.number,
        block_hash=block.block_id,
        block_time=block.time,
    )


# -- HTTP


class _Endpoint:
    """One base URL of the java-tron HTTP API (a node, or a gateway with a path prefix)."""

    def __init__(self, url: str, api_key: str | None, timeout: float) -> None:
        self.base = url.rstrip("/")
        self.label = redact(url)
        headers = {"Accept": "application/json"}
        if api_key:
            headers[API_KEY_HEADER] = api_key
        self.client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        self.timeout = timeout
        self.solid_via_nodeinfo = False
        """True once /walletsolidity/ answered 404 here (a node's full-node port)."""

    async def post(self, path: str, body: Mapping[str, Any] | None) -> bytes:
        """POST `path` (JSON body, or none) and return the raw answer; EndpointFailure else."""
        url = f"{self.base}/{path}"
        try:
            async with asyncio.timeout(self.timeout + 1):
                if body is None:
                    response = await self.client.post(url)
                else:
                    response = await self.client.post(url, json=body)
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            raise EndpointFailure(f"{type(exc).__name__}: {exc}") from None
        if response.status_code in THROTTLED:
            raise Throttled(
                f"HTTP {response.status_code} on {path}",
                response.headers.get("Retry-After"),
            )
        if response.status_code == 404:
            raise _NotFound(f"HTTP 404 on {path}")
        if response.status_code != 200:
            raise EndpointFailure(f"HTTP {response.status_code} on {path}")
        return response.content

    def decode(self, path: str, content: bytes) -> Any:
        try:
            return msgspec.json.decode(content)
        except msgspec.DecodeError:
            raise EndpointFailure(f"{path} answered non-JSON") from None

    async def close(self) -> None:
        await self.client.aclose()


class TronSource(SourceBase):
    """`ChainSource` for TRON over the java-tron HTTP API. See the module docstring."""

    family = ChainFamily.TRON

    def __init__(
        self,
        api_urls: Sequence[str],
        tokens: Mapping[Coin | str, tuple[str, int]],
        wallets: Iterable[str],
        *,
        blockchain: Blockchain | str = Blockchain.TRON,
        finality: Finality = "solidified",
        api_key: str | None = None,
        poll_interval: float = 2.0,
        min_poll: float = 0.25,
        request_timeout: float = 10.0,
        throttle_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        block_concurrency: int = 8,
        slice_blocks: int = 200,
        failback_after: float = 300.0,
    ) -> None:
        """
        api_urls: base URLs serving /wallet/… (and /walletsolidity/…), in order of preference.
        tokens: {coin: (base58 contract, decimals)}. wallets: our base58 receiving addresses.
        finality: "solidified" (head() = latest solidified block) or "head" (latest block).
        throttle_retries: retries of one request on HTTP 429/503 before the next URL is tried.
        block_concurrency: transaction-info requests in flight at once; slice_blocks: blocks
        read from one node before choosing a node again.
        """
        self._blockchain = chain_of_family(blockchain, ChainFamily.TRON).blockchain
        if not api_urls:
            raise ValueError(f"{self._blockchain}: at least one api_url is required")
        if finality not in ("solidified", "head"):
            raise ValueError(f"finality must be 'solidified' or 'head', not {finality!r}")
        self._endpoints = [_Endpoint(url, api_key, request_timeout) for url in api_urls]
        self._tokens = tokens_by_contract(
            self._blockchain,
            tokens,
            hex20_of,
            lambda coin, key, decimals: TronToken(coin, base58_of(key), key, decimals),
        )
        self._wallets = frozenset(hex20_of(w) for w in wallets)
        self._needles = (
            tuple(w.encode() for w in self._wallets) if len(self._wallets) <= MAX_NEEDLES else ()
        )
        self.finality: Finality = finality
        self.poll_interval = poll_interval
        self.min_poll = min(min_poll, poll_interval)
        self.request_timeout = request_timeout
        self.throttle_retries = max(0, throttle_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._slots = asyncio.Semaphore(max(1, block_concurrency))
        self.slice_blocks = max(1, slice_blocks)
        self._rotation = Rotation(
            self._blockchain,
            [e.label for e in self._endpoints],
            failback_after,
            urls_are_called="URL",
        )
        self._head: int | None = None
        self._head_changed_at = 0.0
        self._closed = False

    @classmethod
    def from_config(
        cls, config: SourceConfig, chain: ChainSettings, options: dict[str, Any]
    ) -> Self:
        """`api_urls` and `api_key`; `confirmations` 0 (the default) means "paid once
        solidified", N > 0 means N blocks counted from the latest block."""
        confirmations = (
            chain.confirmations if chain.confirmations is not None else config.info.confirmations
        )
        options.setdefault("finality", "solidified" if confirmations == 0 else "head")
        options.setdefault("api_key", chain.api_key or None)
        return cls(
            chain.api_urls, config.tokens, config.wallets, blockchain=config.blockchain, **options
        )

    # -- introspection

    @property
    def tokens(self) -> dict[Coin, TronToken]:
        return {token.coin: token for token in self._tokens.values()}

    @property
    def wallets(self) -> frozenset[str]:
        """Our wallets, base58."""
        return frozenset(base58_of(w) for w in self._wallets)

    @property
    def active_url(self) -> str:
        return self._endpoints[self._rotation.active].base

    # -- requests with backoff and failover

    async def _call(self, endpoint: _Endpoint, path: str, body: Mapping[str, Any] | None) -> Any:
        """One request to one URL, decoded; see `_call_raw`."""
        return endpoint.decode(path, await self._call_raw(endpoint, path, body))

    async def _call_raw(
        self, endpoint: _Endpoint, path: str, body: Mapping[str, Any] | None
    ) -> bytes:
        """One request to one URL, retried with backoff while it answers 429/503."""
        return await retry_throttled(
            lambda: endpoint.post(path, body),
            self.throttle_retries,
            self.backoff_base,
            self.backoff_max,
        )

    async def _failover(self, what: str, op: Callable[[_Endpoint], Awaitable[T]]) -> T:
        if self._closed:
            raise SourceUnavailable(f"{self._blockchain}: source is closed")
        return await self._rotation.first_answer(what, lambda index: op(self._endpoints[index]))

    # -- ChainSource

    async def head(self) -> int:
        if self.finality == "solidified":
            number = await self._failover("solidified head", self._solid_head)
        else:
            number = await self._failover("head", self._latest_head)
        if number != self._head:
            self._head, self._head_changed_at = number, time.monotonic()
        return number

    async def latest_block(self) -> int:
        """Number of the newest block (unsolidified), whatever the finality mode."""
        return await self._failover("head", self._latest_head)

    async def solidified_block(self) -> int:
        """Number of the newest solidified block, whatever the finality mode."""
        return await self._failover("solidified head", self._solid_head)

    async def _latest_head(self, endpoint: _Endpoint) -> int:
        block = parse_block(await self._call(endpoint, "wallet/getnowblock", None))
        if block is None:
            raise EndpointFailure("no head block")
        return block.number

    async def _solid_head(self, endpoint: _Endpoint) -> int:
        if not endpoint.solid_via_nodeinfo:
            try:
                block = parse_block(await self._call(endpoint, "walletsolidity/getnowblock", None))
            except _NotFound:
                log.info(
                    "%s: %s serves no /walletsolidity/; using wallet/getnodeinfo",
                    self._blockchain,
                    endpoint.label,
                )
                endpoint.solid_via_nodeinfo = True
            else:
                if block is None:
                    raise EndpointFailure("no solidified block")
                return block.number
        number = solidified_number(await self._call(endpoint, "wallet/getnodeinfo", None))
        if number is None:
            raise EndpointFailure("getnodeinfo has no solidityBlock")
        return number

    async def block_hash(self, number: int) -> str | None:
        if number < 0:
            return None
        block = await self._failover("getblockbynum", lambda ep: self._block_on(ep, number))
        return block.block_id if block is not None else None

    async def _block_on(self, endpoint: _Endpoint, number: int) -> TronBlock | None:
        block = parse_block(await self._call(endpoint, "wallet/getblockbynum", {"num": number}))
        if block is not None and block.number != number:
            raise EndpointFailure(f"asked block {number}, got {block.number}")
        return block

    async def outgoing(self, from_block: int, to_block: int) -> list[ObservedTransfer]:
        """Transfers of our tokens *from* our wallets: how refunds are recognised."""
        return await self.transfers(from_block, to_block, outgoing=True)

    async def transfers(
        self, from_block: int, to_block: int, *, outgoing: bool = False
    ) -> list[ObservedTransfer]:
        if no_blocks_in(from_block, to_block) or not self._wallets or not self._tokens:
            return []
        found: list[ObservedTransfer] = []
        for start in range(from_block, to_block + 1, self.slice_blocks):
            end = min(to_block, start + self.slice_blocks - 1)
            for attempt in range(4):
                try:
                    found.extend(
                        await self._failover(
                            f"blocks {start}-{end}",
                            functools.partial(
                                self._read_slice, start=start, end=end, outgoing=outgoing
                            ),
                        )
                    )
                    break
                except _StaleRead as exc:
                    if attempt == 3:
                        raise SourceUnavailable(f"{self._blockchain}: {exc}") from exc
                    log.info("%s: %s; reading again", self._blockchain, exc)
                    await asyncio.sleep(0.2 * (attempt + 1))
        return found

    async def _read_slice(
        self, endpoint: _Endpoint, start: int, end: int, outgoing: bool = False
    ) -> list[ObservedTransfer]:
        """Blocks start..end from one node, which must first show it has block `end`."""
        top = await self._block_on(endpoint, end)
        if top is None:
            raise _Lagging(f"no block {end} yet")

        path = "wallet/gettransactioninfobyblocknum"

        async def infos_of(number: int) -> tuple[int, Any]:
            async with self._slots:
                raw = await self._call_raw(endpoint, path, {"num": number})
            if self._needles and raw.lstrip()[:1] == b"[":
                # Most blocks hold nothing for us: a list in which none of our wallets' hex
                # appears (any case) cannot hold a Transfer to them. Skip decoding it.
                lowered = raw.lower()
                if not any(needle in lowered for needle in self._needles):
                    return number, []
            return number, endpoint.decode(path, raw)

        answers = await asyncio.gather(*(infos_of(n) for n in range(start, end + 1)))
        out: list[ObservedTransfer] = []
        for number, infos in answers:
            if isinstance(infos, Mapping) and not infos and number <= 0:
                continue  # java-tron answers {} for block 0 (and below)
            if isinstance(infos, Mapping) and "Error" in infos:
                raise EndpointFailure(f"block {number}: {infos['Error']}")
            if not isinstance(infos, list):
                raise EndpointFailure(f"block {number}: not a list")
            candidates: list[tuple[Mapping[str, Any], _Candidate]] = []
            for info in infos:
                if not isinstance(info, Mapping):
                    continue
                stamp = info.get("blockNumber", 0)
                if stamp != number:
                    raise _StaleRead(f"block {number}: a transaction info of block {stamp}")
                candidates.extend(
                    (info, c)
                    for c in candidate_transfers(info, self._tokens, self._wallets, outgoing)
                )
            if not candidates:
                continue
            block = top if number == end else await self._block_on(endpoint, number)
            if block is None:
                raise _StaleRead(f"block {number} vanished")
            ids = [_hex(i.get("id")) for i in infos if isinstance(i, Mapping)]
            if sorted(ids) != sorted(block.tx_ids):
                raise _StaleRead(f"block {number} changed between reads")
            out.extend(_observed(c, block, self._blockchain) for _, c in candidates)
        return out

    async def wait_for_new_head(self, timeout: float) -> None:
        """Sleep until about one block interval after the head last moved (see module doc)."""
        if self._closed:
            await asyncio.sleep(max(0.0, min(timeout, self.poll_interval)))
            return
        now = time.monotonic()
        # We saw the head move a little after it moved; waking a little before the next block is
        # due and then polling every `min_poll` keeps that lag within `min_poll` instead of
        # carrying it from block to block.
        due = self._head_changed_at + BLOCK_INTERVAL - 2 * self.min_poll
        if self._head is None or now > due + 3 * BLOCK_INTERVAL:
            wait = self.poll_interval  # no rhythm yet, or the chain (or node) stalls
        else:
            wait = max(self.min_poll, due - now)
        await asyncio.sleep(max(0.0, min(wait, self.poll_interval, timeout)))

    async def close(self) -> None:
        self._closed = True
        for endpoint in self._endpoints:
            await endpoint.close()

    def __repr__(self) -> str:
        urls = ", ".join(e.label for e in self._endpoints)
        return (
            f"<TronSource {self._blockchain} [{urls}] {self.finality} tokens={len(self._tokens)}>"
        )


__all__ = [
    "API_KEY_HEADER",
    "TRANSFER_TOPIC",
    "TronBlock",
    "TronSource",
    "TronToken",
    "base58_of",
    "candidate_transfers",
    "hex20_of",
    "info_succeeded",
    "parse_block",
    "solidified_number",
    "transfers_from_infos",
]
