"""Run a local anvil node and deploy and use the TestUSDT token on it.

Used by the tests (tests/watchers) and by `stablecheckout dev`. Anvil comes from npm
(`@foundry-rs/anvil`, pinned in package.json); `find_anvil()` says where it is looked for.

Anvil's default accounts are unlocked, so the helpers here send transactions with
`eth_sendTransaction` from those accounts and never handle a private key. The keys are listed
anyway (they are public, derived from the "test test … junk" mnemonic) for code that wants to sign
like a real wallet does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import platform
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from eth_typing import ChecksumAddress
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.providers.persistent import PersistentConnectionProvider
from web3.types import RPCEndpoint, TxReceipt

from devkit.chain import load_token_abi, load_token_bytecode
from devkit.harness import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
ANVIL_ENV_VAR = "STABLECHECKOUT_ANVIL"
"""Path (or command name) of the anvil binary; overrides every other place."""

ANVIL_CHAIN_ID = 31337

ANVIL_ACCOUNTS: tuple[ChecksumAddress, ...] = tuple(
    ChecksumAddress(a)  # type: ignore[arg-type]
    for a in (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
        "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
        "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
        "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
        "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
    )
)
"""The ten funded, unlocked accounts of a default anvil (mnemonic "test test … junk")."""

ANVIL_PRIVATE_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
"""Private keys of ANVIL_ACCOUNTS, same order. Public knowledge: never use them on a real chain."""

DEFAULT_SENDER = ANVIL_ACCOUNTS[0]


class AnvilNotFoundError(RuntimeError):
    """No anvil binary: the message says where it was looked for and how to install it."""


class AnvilError(RuntimeError):
    """Anvil did not start, or stopped answering; the message carries the tail of its output."""


# --------------------------------------------------------------------------------------------
# Finding the binary


def _npm_platform_package() -> str | None:
    """Name of the @foundry-rs/anvil-<os>-<cpu> package npm installs on this machine."""
    machine = platform.machine().lower()
    cpu = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    osname = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform)
    if cpu is None or osname is None:
        return None
    return f"anvil-{osname}-{cpu}"


def anvil_candidates() -> list[Path]:
    """The node_modules locations checked (in order) after the environment variable."""
    package = _npm_platform_package()
    if package is None:
        return []
    exe = "anvil.exe" if sys.platform == "win32" else "anvil"
    roots = [REPO_ROOT, Path.cwd()]
    seen: list[Path] = []
    for root in roots:
        path = root / "node_modules" / "@foundry-rs" / package / "bin" / exe
        if path not in seen:
            seen.append(path)
    return seen


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_anvil() -> Path:
    """Locate the anvil binary, or raise AnvilNotFoundError saying what was tried.

    Order: `$STABLECHECKOUT_ANVIL` (a path or a command name; when set, nothing else is tried, so a
    typo is reported rather than silently replaced), then the npm install at the repository root
    (`npm install` puts it at node_modules/@foundry-rs/anvil-<os>-<cpu>/bin/anvil; npm's refused
    postinstall script is not needed), then the current directory's node_modules, then PATH.
    """
    override = os.environ.get(ANVIL_ENV_VAR, "").strip()
    if override:
        path = Path(override).expanduser()
        if _executable(path):
            return path.resolve()
        found = shutil.which(override)
        if found:
            return Path(found)
        raise AnvilNotFoundError(f"${ANVIL_ENV_VAR}={override!r} is not an executable file")
    candidates = anvil_candidates()
    for path in candidates:
        if _executable(path):
            return path
    found = shutil.which("anvil")
    if found:
        return Path(found)
    tried = ", ".join(str(p) for p in candidates) or "(no npm package for this platform)"
    raise AnvilNotFoundError(
        "anvil not found: run `npm install` at the repository root, put anvil on PATH, or set "
        f"${ANVIL_ENV_VAR}. Tried {tried} and PATH."
    )


# --------------------------------------------------------------------------------------------
# The process


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: have the kernel send SIGTERM to anvil when the thread that started it exits.

    Keeps a crashed or `kill -9`-ed test run from leaving anvil nodes behind. The libc function is
    looked up before forking; the child only calls it.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class AnvilProcess:
    """One anvil node on 127.0.0.1, started and stopped from asyncio.

        async with AnvilProcess(block_time=1) as node:
            w3 = AsyncWeb3(AsyncHTTPProvider(node.http_url))

    The port is chosen once (a free one unless given) and kept for the object's lifetime, so
    `stop()` + `start()` (or `restart()`) bring the node back at the same URLs: that is how tests
    simulate a node outage. Without `state_path` a restarted node starts a brand-new chain; with it,
    anvil dumps its chain on a graceful stop and loads it again on start (same blocks, same hashes).
    `kill()` is a crash (no dump); `pause()`/`resume()` freeze the process so that requests hang
    instead of being refused (a node that stopped answering).
    """

    def __init__(
        self,
        *,
        binary: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        block_time: float | None = None,
        chain_id: int | None = None,
        state_path: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 15.0,
        output_lines: int = 200,
    ) -> None:
        self._binary = Path(binary) if binary is not None else None
        self.host = host
        self._port = port
        self._port_chosen_by_us = port is None
        self.block_time = block_time
        self.chain_id = chain_id if chain_id is not None else ANVIL_CHAIN_ID
        self._chain_id_arg = chain_id
        self.state_path = Path(state_path) if state_path is not None else None
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self._output: deque[str] = deque(maxlen=output_lines)
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._paused = False

    # -- addresses

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = free_port(self.host)
        return self._port

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Anvil serves WebSocket JSON-RPC (and subscriptions) on the same port as HTTP."""
        return f"ws://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def output(self) -> str:
        """The last lines anvil printed (for error messages and debugging)."""
        return "\n".join(self._output)

    # -- lifecycle

    def command(self) -> list[str]:
        binary = self._binary if self._binary is not None else find_anvil()
        args = [str(binary), "--host", self.host, "--port", str(self.port)]
        if self.block_time is not None:
            args += ["--block-time", _format_seconds(self.block_time)]
        if self._chain_id_arg is not None:
            args += ["--chain-id", str(self._chain_id_arg)]
        if self.state_path is not None:
            args += ["--state", str(self.state_path)]
        args += list(self.extra_args)
        return args

    async def start(self) -> None:
        """Start anvil and return once it answers `eth_chainId`. No-op if already running."""
        if self.running:
            return
        attempts = 3 if self._port_chosen_by_us else 1
        for attempt in range(attempts):
            try:
                await self._start_once()
                return
            except AnvilError:
                if attempt + 1 == attempts or "in use" not in self.output().lower():
                    raise
                # Someone took the free port between our probe and anvil's bind: pick another.
                self._port = free_port(self.host)

    async def _start_once(self) -> None:
        self._output.clear()
        self._paused = False
        preexec = _die_with_parent if _PRCTL is not None else None
        self._proc = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=preexec,
        )
        self._reader = asyncio.create_task(self._read_output(self._proc))
        try:
            await self._wait_ready()
        except BaseException:
            await self.kill()
            raise

    async def _read_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                return
            self._output.append(line.decode("utf-8", "replace").rstrip())

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                proc = self._proc
                if proc is None or proc.returncode is not None:
                    code = proc.returncode if proc is not None else None
                    if self._reader is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(self._reader, 1.0)
                    raise AnvilError(f"anvil exited with code {code} at start:\n{self.output()}")
                try:
                    response = await client.post(self.http_url, json=payload)
                    if response.status_code == 200 and "result" in response.json():
                        self.chain_id = int(response.json()["result"], 16)
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise AnvilError(
                        f"anvil did not answer on {self.http_url} within "
                        f"{self.startup_timeout} s:\n{self.output()}"
                    )
                await asyncio.sleep(0.05)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop gracefully (SIGTERM: anvil dumps `state_path` if set); SIGKILL after `grace` s."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            if self._paused:
                self.resume()
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        await self._finish_reader()

    async def kill(self) -> None:
        """Crash the node (SIGKILL): no state is dumped."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        self._paused = False
        await self._finish_reader()

    async def _finish_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                await asyncio.wait_for(reader, 2.0)
            except (TimeoutError, asyncio.CancelledError):
                reader.cancel()
            except Exception:  # noqa: BLE001, S110 - output capture is best effort
                pass

    async def restart(self, downtime: float = 0.0) -> None:
        """Stop, wait `downtime` seconds, and start again on the same port."""
        await self.stop()
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self.start()

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections stay open but nothing is answered."""
        if self._proc is not None and self._proc.returncode is None and not self._paused:
            self._proc.send_signal(signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        if self._proc is not None and self._proc.returncode is None and self._paused:
            self._proc.send_signal(signal.SIGCONT)
            self._paused = False

    async def __aenter__(self) -> AnvilProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<AnvilProcess {self.http_url} {state} pid={self.pid}>"


# --------------------------------------------------------------------------------------------
# The token


def token_contract(w3: AsyncWeb3[Any], address: str) -> AsyncContract:
    """TestUSDT (or any ERC-20 with its functions) at `address`, for calls and transactions."""
    return w3.eth.contract(address=w3.to_checksum_address(address), abi=load_token_abi())


async def wait_for_receipt(
    w3: AsyncWeb3[Any],
    tx_hash: str | bytes,
    *,
    timeout: float = 30.0,
) -> TxReceipt:
    """Wait until the transaction is mined; raise if it reverted (status 0)."""
    receipt = await w3.eth.wait_for_transaction_receipt(
        tx_hash,  # type: ignore[arg-type]
        timeout=timeout,
        poll_latency=0.05,
    )
    if receipt["status"] != 1:
        raise AnvilError(f"transaction {_hex(tx_hash)} reverted")
    return receipt


def _hex(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value if value.startswith("0x") else "0x" + value


async def deploy_token(
    w3: AsyncWeb3[Any],
    *,
    sender: str = DEFAULT_SENDER,
    mint: dict[str, int] | None = None,
    receipt_timeout: float = 30.0,
) -> ChecksumAddress:
    """Deploy TestUSDT from the committed bytecode; optionally mint `{address: base_units}`.

    Returns the contract address (EIP-55). `sender` must be an account the node signs for (one of
    anvil's defaults, or one unlocked with `anvil_impersonateAccount`).
    """
    tx_hash = await w3.eth.send_transaction(
        {"from": w3.to_checksum_address(sender), "data": load_token_bytecode()}  # type: ignore[typeddict-item]
    )
    receipt = await wait_for_receipt(w3, tx_hash, timeout=receipt_timeout)
    address = receipt["contractAddress"]
    if address is None:
        raise AnvilError(f"deployment {tx_hash.to_0x_hex()} created no contract")
    for to, amount in (mint or {}).items():
        await mint_tokens(w3, address, to, amount, sender=sender, receipt_timeout=receipt_timeout)
    return ChecksumAddress(address)


async def _transact(
    w3: AsyncWeb3[Any],
    call: Any,
    sender: str,
    wait: bool,
    receipt_timeout: float,
) -> str:
    tx_hash = await call.transact({"from": w3.to_checksum_address(sender)})
    if wait:
        await wait_for_receipt(w3, tx_hash, timeout=receipt_timeout)
    return str(tx_hash.to_0x_hex())


async def _to_and_amount(
    w3: AsyncWeb3[Any],
    token: str,
    function: str,
    to: str,
    amount: int,
    sender: str,
    wait: bool,
    receipt_timeout: float,
) -> str:
    """The token's `function(to, amount)` sent from `sender` (mint and transfer take the same)."""
    call = getattr(token_contract(w3, token).functions, function)
    return await _transact(
        w3, call(w3.to_checksum_address(to), int(amount)), sender, wait, receipt_timeout
    )


async def mint_tokens(
    w3: AsyncWeb3[Any],
    token: str,
    to: str,
    amount: int,
    *,
    sender: str = DEFAULT_SENDER,
    wait: bool = True,
    receipt_timeout: float = 30.0,
) -> str:
    """Mint `amount` base units to `to`. Returns the 0x tx hash (mined and successful if `wait`)."""
    return await _to_and_amount(w3, token, "mint", to, amount, sender, wait, receipt_timeout)


async def transfer_tokens(
    w3: AsyncWeb3[Any],
    token: str,
    to: str,
    amount: int,
    *,
    sender: str = DEFAULT_SENDER,
    wait: bool = True,
    receipt_timeout: float = 30.0,
) -> str:
    """`transfer(to, amount)` from `sender`. Returns the 0x tx hash."""
    return await _to_and_amount(w3, token, "transfer", to, amount, sender, wait, receipt_timeout)


async def batch_transfer_tokens(
    w3: AsyncWeb3[Any],
    token: str,
    transfers: Sequence[tuple[str, int]],
    *,
    sender: str = DEFAULT_SENDER,
    wait: bool = True,
    receipt_timeout: float = 30.0,
) -> str:
    """One transaction, one Transfer log per `(to, amount)` in order. Returns the 0x tx hash."""
    contract = token_contract(w3, token)
    call = contract.functions.batchTransfer(
        [w3.to_checksum_address(to) for to, _ in transfers],
        [int(amount) for _, amount in transfers],
    )
    return await _transact(w3, call, sender, wait, receipt_timeout)


async def token_balance(w3: AsyncWeb3[Any], token: str, owner: str) -> int:
    contract = token_contract(w3, token)
    balance: int = await contract.functions.balanceOf(w3.to_checksum_address(owner)).call()
    return balance


# --------------------------------------------------------------------------------------------
# Chain control (anvil-specific RPCs)


async def rpc(w3: AsyncWeb3[Any], method: str, params: Sequence[Any] = ()) -> Any:
    """Call a JSON-RPC method (e.g. anvil's own) and return its raw result; raise on an error.

    Goes through the request manager like web3's own methods do: on a persistent (WebSocket)
    provider `socket_request` registers the request, so an error answer is raised here rather than
    in the provider's background listener.
    """
    endpoint = RPCEndpoint(method)
    if isinstance(w3.provider, PersistentConnectionProvider):
        return await w3.manager.socket_request(endpoint, list(params))
    return await w3.manager.coro_request(endpoint, list(params))


async def mine(w3: AsyncWeb3[Any], blocks: int = 1) -> None:
    """Mine `blocks` empty blocks at once (`anvil_mine`)."""
    await rpc(w3, "anvil_mine", [hex(blocks)])


async def set_automine(w3: AsyncWeb3[Any], enabled: bool) -> None:
    await rpc(w3, "evm_setAutomine", [enabled])


async def snapshot(w3: AsyncWeb3[Any]) -> str:
    """`evm_snapshot`: an id to `revert` to (simulates the start of a reorg)."""
    return str(await rpc(w3, "evm_snapshot"))


async def revert(w3: AsyncWeb3[Any], snapshot_id: str) -> bool:
    """`evm_revert`: drop every block after the snapshot; mine new ones to finish the reorg."""
    return bool(await rpc(w3, "evm_revert", [snapshot_id]))


async def impersonate(w3: AsyncWeb3[Any], address: str, *, eth_wei: int | None = None) -> None:
    """Let the node sign for `address` (and optionally set its ETH balance for gas)."""
    checksum = w3.to_checksum_address(address)
    await rpc(w3, "anvil_impersonateAccount", [checksum])
    if eth_wei is not None:
        await rpc(w3, "anvil_setBalance", [checksum, hex(eth_wei)])


__all__ = [
    "ANVIL_ACCOUNTS",
    "ANVIL_CHAIN_ID",
    "ANVIL_ENV_VAR",
    "ANVIL_PRIVATE_KEYS",
    "DEFAULT_SENDER",
    "REPO_ROOT",
    "AnvilError",
    "AnvilNotFoundError",
    "AnvilProcess",
    "anvil_candidates",
    "batch_transfer_tokens",
    "deploy_token",
    "find_anvil",
    "free_port",
    "impersonate",
    "mine",
    "mint_tokens",
    "revert",
    "rpc",
    "set_automine",
    "snapshot",
    "token_balance",
    "token_contract",
    "transfer_tokens",
    "wait_for_receipt",
]
