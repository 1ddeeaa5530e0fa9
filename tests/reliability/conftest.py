"""Private services for the reliability suite, which restarts them: a PostgreSQL cluster in a
temporary directory, a Redis server, an anvil node that keeps its chain across restarts, and real
`stablecheckout serve` / `watch` processes that can be killed with SIGKILL and started again.

Never the shared 127.0.0.1:5432 / 6379 servers: other tests use those, and this suite restarts its
own. Missing binaries skip with the reason, or fail under STABLECHECKOUT_TEST_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devkit import harness
from devkit.chain.anvil import AnvilNotFoundError, AnvilProcess, find_anvil
from devkit.harness import AppProcess, free_port, tail
from tests.conftest import unavailable

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a multi-minute fault-injection run: `slow`, so `make test` leaves it out
    and `make test-slow` (which CI runs after `make test`) runs it."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def find_pg_bin() -> Path | None:
    """The directory holding initdb/pg_ctl: $STABLECHECKOUT_PG_BIN, Debian's layout, or PATH."""
    override = os.environ.get("STABLECHECKOUT_PG_BIN")
    candidates = [Path(override)] if override else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


class PrivatePostgres:
    """A throwaway cluster: `initdb` into a temp dir, listening on 127.0.0.1:<free port>.

    As root, the server runs as the `postgres` OS user (it refuses to run as root). `restart()` is
    `pg_ctl restart -m immediate` by default: every backend is killed without a checkpoint and the
    server recovers from its WAL, as after a crash.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="sc-reliability-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.restarts = 0
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def server_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}"

    def url(self, database: str) -> str:
        return f"{self.server_url}/{database}"

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv[:2])} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{tail(self.log_path)}"
            )
        return result

    def _options(self) -> str:
        # fsync off: a killed server loses nothing (the OS keeps its page cache); only a machine
        # crash would, and there is none here. It keeps a loaded CI machine fast.
        return (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c max_connections=300 -c fsync=off -c shared_buffers=64MB"
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", str(self.log_path),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "immediate", downtime: float = 0.0) -> float:
        """Stop (`immediate`: backends killed, no checkpoint, crash recovery on start), stay down
        `downtime` seconds, start; returns the seconds the server was unreachable for."""
        started = time.monotonic()
        self.stop(mode)
        time.sleep(downtime)
        self.start()
        self.restarts += 1
        return time.monotonic() - started

    def create_database(self, name: str) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
        raise AssertionError("unreachable")
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root without a `postgres` OS user to run PostgreSQL as")
    server = PrivatePostgres(bin_dir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


# ---------------------------------------------------------------------------------------------
# Redis


class PrivateRedis:
    """`redis-server` on 127.0.0.1:<free port>, nothing persisted, as our child process."""

    def __init__(self, binary: str, log_path: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = self.log_path.open("ab")
        options = ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *options],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        import redis

        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return
            except redis.RedisError as exc:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not start:\n{tail(self.log_path)}"
                    ) from exc
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def restart(self, downtime: float = 0.0) -> None:
        """A crash and a new empty server on the same port (Redis holds nothing durable)."""
        self.kill()
        time.sleep(downtime)
        self.start()
        self.restarts += 1


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server not found")
        raise AssertionError("unreachable")
    server = PrivateRedis(binary, tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.kill()


# ---------------------------------------------------------------------------------------------
# anvil


@pytest.fixture
async def chain_node(tmp_path: Path) -> AsyncIterator[AnvilProcess]:
    """Anvil with 1 s blocks whose chain survives `restart()` (dumped to and loaded from a file)."""
    try:
        binary = find_anvil()
    except AnvilNotFoundError as exc:
        unavailable(str(exc))
        raise
    node = AnvilProcess(binary=binary, block_time=1, state_path=tmp_path / "anvil-state.json")
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


# ---------------------------------------------------------------------------------------------
# stablecheckout processes


def serve_process(name: str, config: Path, env: dict[str, str], log_dir: Path) -> AppProcess:
    return harness.serve_process(name, config, log_dir, "--api-only", env=env)


def watch_process(name: str, config: Path, env: dict[str, str], log_dir: Path) -> AppProcess:
    return harness.watch_process(name, config, log_dir, env=env)
