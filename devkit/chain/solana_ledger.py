"""The state behind the Solana simulator: slots, SPL token accounts and real signed transactions.

Transactions are real: instructions carry the SPL token program's own byte layouts (`Transfer` is
tag 3 + u64 little-endian amount, `TransferChecked` tag 12 + amount + decimals, the associated
token account program's `CreateIdempotent` tag 1), they are compiled into a v0 message and signed
with ed25519 by solders, and the signature printed by the RPC is that real signature. The
`jsonParsed` form the RPC serves is decoded back from those compiled bytes, the way the
validator's parser does, so a reader is tested against what the bytes say, not what a test meant.

What is not modelled: SOL balances and fees (a fixed fee is printed), rent, programs other than
the token and associated-token programs (a "router" program that calls the token program is
modelled only as the outer instruction of an inner transfer). A transfer fails (and moves
nothing) when the source account holds less than the amount, as the token program's error 1
(`InsufficientFunds`), or when told to fail.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from watchers.solana import associated_token_account
from watchers.solana_parse import ASSOCIATED_TOKEN_PROGRAM, TOKEN_PROGRAM

SYSTEM_PROGRAM = "11111111111111111111111111111111"
ROUTER_PROGRAM = "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"
"""An aggregator's program id, standing for any program that pays by CPI into the token program."""
FEE = 5000


def b58(data: bytes) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = alphabet[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def ui_amount(amount: int, decimals: int) -> dict[str, Any]:
    text = str(amount).rjust(decimals + 1, "0")
    whole, frac = text[: len(text) - decimals] or "0", text[len(text) - decimals :]
    ui = f"{whole}.{frac}".rstrip("0").rstrip(".") if decimals else whole
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(ui),  # the node prints a float here; readers must use `amount`
        "uiAmountString": ui,
    }


@dataclass
class TokenAccount:
    address: str
    mint: str
    owner: str
    amount: int = 0


@dataclass
class SimTx:
    signature: str
    message: MessageV0
    err: Any
    inner: dict[int, list[tuple[str, list[str], bytes]]]
    pre: list[dict[str, Any]]
    post: list[dict[str, Any]]
    logs: list[str]
    deltas: dict[str, int]
    slot: int = -1
    block_time: int = 0

    @property
    def keys(self) -> list[str]:
        return [str(k) for k in self.message.account_keys]


@dataclass
class SimBlock:
    slot: int
    parent_slot: int
    blockhash: str
    previous_blockhash: str
    block_time: int
    block_height: int
    txs: list[SimTx] = field(default_factory=list)


class Ledger:
    """Slots, token accounts and transactions; the simulator serves this over JSON-RPC."""

    def __init__(self, start_slot: int = 1000, start_time: int | None = None) -> None:
        self._counter = itertools.count()
        start_time = int(time.time()) if start_time is None else start_time
        self.mints: dict[str, int] = {}
        self.accounts: dict[str, TokenAccount] = {}
        genesis = SimBlock(
            start_slot, start_slot - 1, self._hash("genesis"), self._hash("root"), start_time, 0
        )
        self.blocks: dict[int, SimBlock] = {start_slot: genesis}
        self.slot = start_slot
        self.confirmed = start_slot
        self.finalized = start_slot
        self.pending: list[SimTx] = []
        self.by_signature: dict[str, SimTx] = {}
        self.abandoned: set[str] = set()

    def _hash(self, *parts: object) -> str:
        return b58(hashlib.sha256(repr((parts, next(self._counter))).encode()).digest())

    # -- accounts

    def create_mint(self, decimals: int = 6, address: str | None = None) -> str:
        mint = address or str(Keypair().pubkey())
        self.mints[mint] = decimals
        return mint

    def fund(self, owner: str, mint: str, amount: int) -> str:
        """Credit `owner`'s associated token account (created if needed) outside any transaction."""
        ata = associated_token_account(owner, mint)
        account = self.accounts.setdefault(ata, TokenAccount(ata, mint, owner))
        account.amount += amount
        return ata

    def open_account(self, owner: str, mint: str) -> str:
        """A second (non-associated) token account of `owner` for `mint`."""
        address = str(Keypair().pubkey())
        self.accounts[address] = TokenAccount(address, mint, owner)
        return address

    def balance(self, account: str) -> int:
        found = self.accounts.get(account)
        return found.amount if found else 0

    # -- transactions

    def transfer(
        self,
        payer: Keypair,
        to_owner: str,
        mint: str,
        amount: int,
        *,
        checked: bool = True,
        references: tuple[str, ...] = (),
        inner: bool = False,
        to_account: str | None = None,
        fail: bool = False,
    ) -> str:
        """Sign and queue a token transfer from `payer`'s associated account; returns its signature.

        The destination is `to_account` or `to_owner`'s associated account, created by the same
        transaction (CreateIdempotent) when it does not exist yet, as wallets do.
        """
        owner = str(payer.pubkey())
        decimals = self.mints[mint]
        source = associated_token_account(owner, mint)
        dest = to_account or associated_token_account(to_owner, mint)
        token = Pubkey.from_string(TOKEN_PROGRAM)
        ixs: list[Instruction] = []
        if dest not in self.accounts:
            ixs.append(
                Instruction(
                    Pubkey.from_string(ASSOCIATED_TOKEN_PROGRAM),
                    bytes([1]),
                    [
                        AccountMeta(payer.pubkey(), True, True),
                        AccountMeta(Pubkey.from_string(dest), False, True),
                        AccountMeta(Pubkey.from_string(to_owner), False, False),
                        AccountMeta(Pubkey.from_string(mint), False, False),
                        AccountMeta(Pubkey.from_string(SYSTEM_PROGRAM), False, False),
                        AccountMeta(token, False, False),
                    ],
                )
            )
        metas = [AccountMeta(Pubkey.from_string(source), False, True)]
        if checked:
            metas.append(AccountMeta(Pubkey.from_string(mint), False, False))
            data = bytes([12]) + amount.to_bytes(8, "little") + bytes([decimals])
        else:
            data = bytes([3]) + amount.to_bytes(8, "little")
        metas += [
            AccountMeta(Pubkey.from_string(dest), False, True),
            AccountMeta(payer.pubkey(), True, False),
        ]
        metas += [AccountMeta(Pubkey.from_string(r), False, False) for r in references]
        transfer = Instruction(token, data, metas)
        inner_calls: dict[int, list[tuple[str, list[str], bytes]]] = {}
        if inner:
            router = Instruction(
                Pubkey.from_string(ROUTER_PROGRAM),
                bytes([0xE5, 0x17]),
                [*metas, AccountMeta(token, False, False)],
            )
            inner_calls[len(ixs)] = [(TOKEN_PROGRAM, [str(m.pubkey) for m in metas], data)]
            ixs.append(router)
        else:
            ixs.append(transfer)
        recent = Hash.from_string(self.blocks[max(self.blocks)].blockhash)
        message = MessageV0.try_compile(payer.pubkey(), ixs, [], recent)
        signed = VersionedTransaction(message, [payer])
        tx = SimTx(
            signature=str(signed.signatures[0]),
            message=message,
            err=None,
            inner=inner_calls,
            pre=[],
            post=[],
            logs=[],
            deltas={},
        )
        self._execute(tx, source, dest, to_owner, mint, amount, len(ixs) - 1, fail)
        self.pending.append(tx)
        self.by_signature[tx.signature] = tx
        return tx.signature

    def _execute(
        self,
        tx: SimTx,
        source: str,
        dest: str,
        to_owner: str,
        mint: str,
        amount: int,
        index: int,
        fail: bool,
    ) -> None:
        keys = tx.keys
        tx.pre = self._token_balances(keys)
        src = self.accounts.get(source)
        tx.logs = [f"Program {TOKEN_PROGRAM} invoke [1]", "Program log: Instruction: Transfer"]
        if fail or src is None or src.amount < amount:
            tx.err = {"InstructionError": [index, {"Custom": 1}]}
            tx.logs += ["Program log: Error: insufficient funds", f"Program {TOKEN_PROGRAM} failed"]
            tx.post = tx.pre
            return
        if dest not in self.accounts:
            self.accounts[dest] = TokenAccount(dest, mint, to_owner)
        src.amount -= amount
        self.accounts[dest].amount += amount
        tx.deltas = {source: -amount, dest: amount}
        tx.logs.append(f"Program {TOKEN_PROGRAM} success")
        tx.post = self._token_balances(keys)

    def _token_balances(self, keys: list[str]) -> list[dict[str, Any]]:
        out = []
        for index, key in enumerate(keys):
            account = self.accounts.get(key)
            if account is None:
                continue
            out.append(
                {
                    "accountIndex": index,
                    "mint": account.mint,
                    "owner": account.owner,
                    "programId": TOKEN_PROGRAM,
                    "uiTokenAmount": ui_amount(account.amount, self.mints[account.mint]),
                }
            )
        return out

    # -- slots

    def produce(self, skip: int = 0) -> SimBlock:
        """The next block (after `skip` skipped slots) with every queued transaction."""
        parent = self.blocks[max(self.blocks)]
        self.slot += 1 + skip
        block = SimBlock(
            self.slot,
            parent.slot,
            self._hash("block", self.slot),
            parent.blockhash,
            max(parent.block_time, int(time.time())),
            parent.block_height + 1,
            self.pending,
        )
        for tx in block.txs:
            tx.slot, tx.block_time = block.slot, block.block_time
        self.pending = []
        self.blocks[block.slot] = block
        return block

    def abandon(self, from_slot: int) -> list[str]:
        """Drop the blocks from `from_slot` up (never finalized), undoing their transfers."""
        if from_slot <= self.finalized:
            raise ValueError(f"slot {from_slot} is finalized and cannot be abandoned")
        dropped: list[str] = []
        for slot in sorted((s for s in self.blocks if s >= from_slot), reverse=True):
            for tx in reversed(self.blocks.pop(slot).txs):
                for address, delta in tx.deltas.items():
                    self.accounts[address].amount -= delta
                self.by_signature.pop(tx.signature, None)
                self.abandoned.add(tx.signature)
                dropped.append(tx.signature)
        self.confirmed = min(self.confirmed, max(self.blocks))
        return dropped

    def limit(self, commitment: str | None) -> int:
        if commitment == "processed":
            return self.slot
        if commitment == "confirmed":
            return self.confirmed
        return self.finalized

    def status(self, tx: SimTx) -> str:
        return "finalized" if tx.slot <= self.finalized else "confirmed"


__all__ = [
    "FEE",
    "ROUTER_PROGRAM",
    "Ledger",
    "SimBlock",
    "SimTx",
    "TokenAccount",
    "b58",
    "ui_amount",
]
