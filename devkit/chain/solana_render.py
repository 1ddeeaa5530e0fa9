"""`jsonParsed` rendering of the simulator's transactions, decoded from their compiled bytes.

As the validator's parser does: the SPL token program's `Transfer` (tag 3) and `TransferChecked`
(tag 12) become `transfer`/`transferChecked` with `authority`, or `multisigAuthority` + `signers`
when the instruction carries extra accounts (Solana Pay references); the associated token account
program's `Create`/`CreateIdempotent` become `create`/`createIdempotent`; anything else is printed
unparsed (`accounts`, base58 `data`). Outer instructions have `stackHeight: null`, inner ones 2.
"""

from __future__ import annotations

from typing import Any

from devkit.chain.solana_ledger import FEE, Ledger, SimTx, b58, ui_amount
from watchers.solana_parse import ASSOCIATED_TOKEN_PROGRAM, TOKEN_PROGRAM


def _parsed_instruction(
    ledger: Ledger, tx: SimTx, program: str, accounts: list[str], data: bytes, height: int | None
) -> dict[str, Any]:
    """Decode one instruction from its bytes, as the node's jsonParsed parser does."""
    if program == TOKEN_PROGRAM and data[:1] in (b"\x03", b"\x0c"):
        amount = int.from_bytes(data[1:9], "little")
        if data[0] == 12:
            fixed = 4
            info: dict[str, Any] = {
                "destination": accounts[2],
                "mint": accounts[1],
                "source": accounts[0],
                "tokenAmount": ui_amount(amount, data[9]),
            }
            kind = "transferChecked"
        else:
            fixed = 3
            info = {"amount": str(amount), "destination": accounts[1], "source": accounts[0]}
            kind = "transfer"
        if len(accounts) > fixed:
            info["multisigAuthority"] = accounts[fixed - 1]
            info["signers"] = accounts[fixed:]
        else:
            info["authority"] = accounts[fixed - 1]
        return {
            "parsed": {"info": info, "type": kind},
            "program": "spl-token",
            "programId": program,
            "stackHeight": height,
        }
    if program == ASSOCIATED_TOKEN_PROGRAM and data in (b"", b"\x00", b"\x01"):
        return {
            "parsed": {
                "info": {
                    "account": accounts[1],
                    "mint": accounts[3],
                    "source": accounts[0],
                    "systemProgram": accounts[4],
                    "tokenProgram": accounts[5],
                    "wallet": accounts[2],
                },
                "type": "createIdempotent" if data == b"\x01" else "create",
            },
            "program": "spl-associated-token-account",
            "programId": program,
            "stackHeight": height,
        }
    return {"accounts": accounts, "data": b58(data), "programId": program, "stackHeight": height}


def transaction_json(ledger: Ledger, tx: SimTx) -> dict[str, Any]:
    keys = tx.keys
    message = tx.message
    outer = []
    for compiled in message.instructions:
        program = keys[compiled.program_id_index]
        accounts = [keys[i] for i in bytes(compiled.accounts)]
        outer.append(_parsed_instruction(ledger, tx, program, accounts, bytes(compiled.data), None))
    inner = [
        {
            "index": index,
            "instructions": [
                _parsed_instruction(ledger, tx, program, accounts, data, 2)
                for program, accounts, data in calls
            ],
        }
        for index, calls in sorted(tx.inner.items())
    ]
    return {
        "blockTime": tx.block_time,
        "meta": {
            "computeUnitsConsumed": 6200,
            "err": tx.err,
            "fee": FEE,
            "innerInstructions": inner if tx.err is None else [],
            "logMessages": tx.logs,
            "postBalances": [1_000_000_000 - FEE] + [2_039_280] * (len(keys) - 1),
            "postTokenBalances": tx.post,
            "preBalances": [1_000_000_000] + [2_039_280] * (len(keys) - 1),
            "preTokenBalances": tx.pre,
            "rewards": [],
            "status": {"Ok": None} if tx.err is None else {"Err": tx.err},
        },
        "slot": tx.slot,
        "transaction": {
            "message": {
                "accountKeys": [
                    {
                        "pubkey": key,
                        "signer": message.is_signer(i),
                        "source": "transaction",
                        "writable": message.is_maybe_writable(i),
                    }
                    for i, key in enumerate(keys)
                ],
                "addressTableLookups": [],
                "instructions": outer,
                "recentBlockhash": str(message.recent_blockhash),
            },
            "signatures": [tx.signature],
        },
        "version": 0,
    }


__all__ = ["transaction_json"]
