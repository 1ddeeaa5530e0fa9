"""A local EVM chain for development and tests: anvil (from npm) and a test USDT contract.

`TestUSDT.sol` is the source; `TestUSDT.abi.json` and `TestUSDT.bin` are its compiled artifacts,
committed so that `stablecheckout dev` and the tests need no Solidity compiler at run time. A test
recompiles the source with solcjs (npm `solc`, pinned in package.json) and compares, and
`python -m devkit.chain.compile --write` regenerates the artifacts after an edit.

Nothing here is used in production: it only ever talks to a local anvil.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DEVCHAIN_DIR = Path(__file__).resolve().parent
TOKEN_SOURCE = DEVCHAIN_DIR / "TestUSDT.sol"
TOKEN_ABI_PATH = DEVCHAIN_DIR / "TestUSDT.abi.json"
TOKEN_BIN_PATH = DEVCHAIN_DIR / "TestUSDT.bin"
TOKEN_DECIMALS = 6


@cache
def _abi_text() -> str:
    return TOKEN_ABI_PATH.read_text(encoding="utf-8")


def load_token_abi() -> list[dict[str, Any]]:
    """The committed ABI of TestUSDT (a fresh list each call, so callers may mutate it)."""
    abi: list[dict[str, Any]] = json.loads(_abi_text())
    return abi


@cache
def load_token_bytecode() -> str:
    """The committed creation bytecode of TestUSDT, as a 0x-prefixed hex string."""
    text = TOKEN_BIN_PATH.read_text(encoding="ascii").strip()
    return text if text.startswith("0x") else "0x" + text


__all__ = [
    "DEVCHAIN_DIR",
    "TOKEN_ABI_PATH",
    "TOKEN_BIN_PATH",
    "TOKEN_DECIMALS",
    "TOKEN_SOURCE",
    "load_token_abi",
    "load_token_bytecode",
]
