"""Reading SPL token transfers out of a `getTransaction` answer (`encoding: jsonParsed`).

The node decodes token-program instructions itself (`"program": "spl-token"`, `parsed.type` and
`parsed.info`); this module only picks the ones that credit one of our token accounts:

* `transfer` (`info.source`, `destination`, `amount` as a decimal string, `authority`) and
  `transferChecked` (the same plus `mint` and `tokenAmount.amount`), in the outer instructions and
  in `meta.innerInstructions` (a router or a wallet program calling the token program by CPI).
* A `transfer` names no mint: the destination account's mint decides (we know it for our own
  accounts), and a `transferChecked` whose mint differs from the account's is ignored, as the
  program itself would have refused it.
* With extra accounts after the authority the node prints `multisigAuthority` and `signers`. A real
  multisig's signers sign the transaction; the keys that do **not** sign are Solana Pay references
  (read-only keys appended to the transfer instruction) and are returned as `references`.
* `meta.err` set: the transaction failed and moved nothing; no transfer is returned.
* Cross-check: for each of our accounts the transaction touched, the parsed credits minus debits
  must equal `postTokenBalances - preTokenBalances` (an account created by the transaction has no
  pre balance: 0). A disagreement means the instructions were not understood (another program
  moved tokens, an unparsed instruction), so the transaction is reported as inconsistent and
  credits nothing rather than something guessed.

`log_index` is the instruction's place: `1000 * outer index` for an outer instruction and
`1000 * outer index + 1 + position` for an inner one, unique within the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"  # noqa: S105 - a program id
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"  # noqa: S105
TOKEN_PROGRAMS = frozenset({TOKEN_PROGRAM, TOKEN_2022_PROGRAM})
ASSOCIATED_TOKEN_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"  # noqa: S105
TRANSFER_TYPES = frozenset({"transfer", "transferChecked"})


@dataclass(frozen=True, slots=True)
class WatchedAccount:
    """One token account of ours: who owns it (the configured wallet) and which mint it holds."""

    address: str
    owner: str
    mint: str


@dataclass(frozen=True, slots=True)
class ParsedTransfer:
    signature: str
    log_index: int
    mint: str
    source: str
    """The sending token account."""
    sender: str
    """The sending wallet: the source account's owner if the balances name it, else the
    authority."""
    destination: WatchedAccount
    amount: int
    references: tuple[str, ...] = ()


@dataclass(slots=True)
class ParsedTransaction:
    signature: str
    slot: int
    block_time: int | None
    failed: bool
    transfers: list[ParsedTransfer] = field(default_factory=list)
    inconsistent: str | None = None
    """Why the balance cross-check failed (then `transfers` is empty)."""


def _keys(message: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(pubkey, signer) for every account key, loaded ones included (jsonParsed lists them)."""
    keys: list[tuple[str, bool]] = []
    for key in message.get("accountKeys") or []:
        if isinstance(key, Mapping):
            keys.append((str(key.get("pubkey", "")), bool(key.get("signer", False))))
        else:
            keys.append((str(key), False))
    return keys


def _instructions(tx: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    """Every instruction with its log index, outer ones followed by their inner ones."""
    message = (tx.get("transaction") or {}).get("message") or {}
    inner: dict[int, list[Mapping[str, Any]]] = {}
    for group in (tx.get("meta") or {}).get("innerInstructions") or []:
        inner.setdefault(int(group.get("index", 0)), []).extend(group.get("instructions") or [])
    found: list[tuple[int, Mapping[str, Any]]] = []
    for index, instruction in enumerate(message.get("instructions") or []):
        found.append((1000 * index, instruction))
        for position, child in enumerate(inner.get(index, [])):
            found.append((1000 * index + 1 + position, child))
    return found


def _balances(meta: Mapping[str, Any], key: str, keys: list[tuple[str, bool]]) -> dict[str, Any]:
    by_account: dict[str, Any] = {}
    for entry in meta.get(key) or []:
        index = int(entry.get("accountIndex", -1))
        if 0 <= index < len(keys):
            by_account[keys[index][0]] = entry
    return by_account


def _amount(entry: Mapping[str, Any] | None) -> int:
    if entry is None:
        return 0
    return int(str((entry.get("uiTokenAmount") or {}).get("amount", "0")))


def parse_transaction(
    tx: Mapping[str, Any], signature: str, accounts: Mapping[str, WatchedAccount]
) -> ParsedTransaction:
    """The transfers into `accounts` (token account address -> account) that `tx` made."""
    meta = tx.get("meta") or {}
    parsed = ParsedTransaction(
        signature=signature,
        slot=int(tx.get("slot", 0)),
        block_time=tx.get("blockTime"),
        failed=meta.get("err") is not None,
    )
    if parsed.failed:
        return parsed
    message = (tx.get("transaction") or {}).get("message") or {}
    keys = _keys(message)
    signers = {pubkey for pubkey, signer in keys if signer}
    pre = _balances(meta, "preTokenBalances", keys)
    post = _balances(meta, "postTokenBalances", keys)
    moved: dict[str, int] = {}
    for log_index, instruction in _instructions(tx):
        if instruction.get("programId") not in TOKEN_PROGRAMS:
            continue
        body = instruction.get("parsed")
        if not isinstance(body, Mapping) or body.get("type") not in TRANSFER_TYPES:
            continue
        info = body.get("info") or {}
        source, destination = str(info.get("source", "")), str(info.get("destination", ""))
        if body["type"] == "transferChecked":
            amount = int(str((info.get("tokenAmount") or {}).get("amount", "0")))
        else:
            amount = int(str(info.get("amount", "0")))
        if source in accounts:
            moved[source] = moved.get(source, 0) - amount
        account = accounts.get(destination)
        if account is None:
            continue
        mint = str(info.get("mint") or (post.get(destination) or {}).get("mint") or account.mint)
        if mint != account.mint:
            continue
        moved[destination] = moved.get(destination, 0) + amount
        authority = str(info.get("authority") or info.get("multisigAuthority") or "")
        extra = [str(k) for k in info.get("signers") or [] if k not in signers]
        sender = str((pre.get(source) or post.get(source) or {}).get("owner") or authority)
        parsed.transfers.append(
            ParsedTransfer(
                signature=signature,
                log_index=log_index,
                mint=mint,
                source=source,
                sender=sender,
                destination=account,
                amount=amount,
                references=tuple(extra),
            )
        )
    for address, delta in moved.items():
        if address not in pre and address not in post:
            continue  # the node printed no balances for it (old transactions): nothing to check
        change = _amount(post.get(address)) - _amount(pre.get(address))
        if change != delta:
            parsed.inconsistent = (
                f"account {address}: instructions move {delta}, balances changed by {change}"
            )
            parsed.transfers = []
            break
    return parsed


__all__ = [
    "ASSOCIATED_TOKEN_PROGRAM",
    "TOKEN_2022_PROGRAM",
    "TOKEN_PROGRAM",
    "ParsedTransaction",
    "ParsedTransfer",
    "WatchedAccount",
    "parse_transaction",
]
