"""Compile TestUSDT.sol with solcjs (npm `solc`); compare with, or rewrite, the committed artifacts.

    python -m devkit.chain.compile            # exit 1 if the committed artifacts are stale
    python -m devkit.chain.compile --write    # regenerate TestUSDT.abi.json and TestUSDT.bin

The compiler runs in this directory on the bare file name, so the metadata hash embedded at the end
of the bytecode (which covers the source unit name) is the same on every machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.chain import (
    DEVCHAIN_DIR,
    TOKEN_ABI_PATH,
    TOKEN_BIN_PATH,
    TOKEN_SOURCE,
)
from devkit.chain.anvil import REPO_ROOT

SOLCJS_ARGS = ("--bin", "--abi", "--optimize")


class CompilerNotFoundError(RuntimeError):
    """npx or the npm `solc` package is missing (run `npm install` at the repository root)."""


@dataclass(frozen=True, slots=True)
class CompiledContract:
    abi: list[dict[str, Any]]
    bytecode: str
    """Creation bytecode, hex without 0x, as solcjs writes it."""


def find_solcjs() -> list[str]:
    """The command that runs the repository's pinned solcjs, or raise CompilerNotFoundError."""
    local = REPO_ROOT / "node_modules" / "solc" / "solc.js"
    if not local.is_file():
        raise CompilerNotFoundError(
            "the npm package solc is not installed: run `npm install` at the repository root"
        )
    npx = shutil.which("npx")
    if npx is not None:
        # --no-install: never fetch an unpinned compiler behind the developer's back.
        return [npx, "--no-install", "solcjs"]
    node = shutil.which("node")
    if node is not None:
        return [node, str(local)]
    raise CompilerNotFoundError("neither npx nor node is on PATH")


def compile_token(source: Path = TOKEN_SOURCE, *, timeout: float = 120.0) -> CompiledContract:
    """Compile `source` (a file in devkit/chain) exactly as the committed artifacts were built."""
    command = find_solcjs()
    with tempfile.TemporaryDirectory(prefix="stablecheckout-solc-") as out:
        result = subprocess.run(
            [*command, *SOLCJS_ARGS, "-o", out, source.name],
            cwd=source.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        stem = f"{source.stem}_sol_{source.stem}"
        abi_file, bin_file = Path(out, stem + ".abi"), Path(out, stem + ".bin")
        if result.returncode != 0 or not abi_file.is_file() or not bin_file.is_file():
            output = result.stderr.strip() or result.stdout.strip()
            raise RuntimeError(f"solcjs failed (exit {result.returncode}): {output}")
        abi: list[dict[str, Any]] = json.loads(abi_file.read_text(encoding="utf-8"))
        return CompiledContract(abi=abi, bytecode=bin_file.read_text(encoding="ascii").strip())


def committed_token() -> CompiledContract:
    abi: list[dict[str, Any]] = json.loads(TOKEN_ABI_PATH.read_text(encoding="utf-8"))
    return CompiledContract(abi=abi, bytecode=TOKEN_BIN_PATH.read_text(encoding="ascii").strip())


def write_token_artifacts(compiled: CompiledContract) -> None:
    TOKEN_ABI_PATH.write_text(json.dumps(compiled.abi, indent=2) + "\n", encoding="utf-8")
    TOKEN_BIN_PATH.write_text(compiled.bytecode + "\n", encoding="ascii")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="rewrite the committed artifacts")
    args = parser.parse_args(argv)
    compiled = compile_token()
    if args.write:
        write_token_artifacts(compiled)
        print(f"wrote {TOKEN_ABI_PATH.relative_to(DEVCHAIN_DIR.parent.parent)} and .bin")
        return 0
    if compiled == committed_token():
        print("committed TestUSDT artifacts are up to date")
        return 0
    print("committed TestUSDT artifacts differ from the source: run with --write", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
