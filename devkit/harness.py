"""What the tests and the benchmarks both need to run the real thing: a free port, a throwaway
PostgreSQL database, `stablecheckout serve` / `watch` (or any other) child processes with their
logs, a wait for `/health`, and the CPU and memory readings the benchmarks report.

Why one module: `bench/` had copied these from `tests/conftest.py` and from each other (six
`free_port`s, seven ways to create a database, four process classes); a fix in one copy did not
reach the others. It lives in the development tooling package, never imported by `app/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PG_SERVER = os.environ.get("STABLECHECKOUT_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
"""The shared test PostgreSQL server as an SQLAlchemy URL without a database name."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it; another process could race us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------------------------
# Throwaway PostgreSQL databases


async def pg_execute(server_url: str, statement: str, *, admin_db: str = "postgres") -> None:
    """One statement in autocommit on `server_url/admin_db` (an SQLAlchemy URL with a driver,
    `postgresql+asyncpg://user@host:port`, or a plain `postgresql://` one)."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    if server_url.startswith("postgresql://"):
        server_url = "postgresql+asyncpg://" + server_url.removeprefix("postgresql://")
    engine = create_async_engine(f"{server_url}/{admin_db}", isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


def database_name(prefix: str) -> str:
    """A name no other run picks: the prefix, this process id and a random suffix."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


async def create_database(server_url: str, name: str, *, admin_db: str = "postgres") -> str:
    """Creates database `name`; returns its URL (`server_url/name`)."""
    await pg_execute(server_url, f'CREATE DATABASE "{name}"', admin_db=admin_db)
    return f"{server_url}/{name}"


async def drop_database(server_url: str, name: str, *, admin_db: str = "postgres") -> None:
    """Drops `name` even while something is still connected to it."""
    await pg_execute(
        server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin_db=admin_db
    )


@contextlib.asynccontextmanager
async def throwaway_database(
    server_url: str, prefix: str, *, admin_db: str = "postgres", migrate: bool = True
) -> AsyncIterator[str]:
    """A fresh database (migrated to head unless `migrate=False`), dropped afterwards."""
    name = database_name(prefix)
    url = await create_database(server_url, name, admin_db=admin_db)
    try:
        if migrate:
            from app.migrate import upgrade_to_head

            await upgrade_to_head(url)
        yield url
    finally:
        await drop_database(server_url, name, admin_db=admin_db)


# ---------------------------------------------------------------------------------------------
# Child processes


def app_command(*argv: str) -> list[str]:
    """`python -m app.cli ARGV` with this interpreter."""
    return [sys.executable, "-m", "app.cli", *argv]


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


class AppProcess:
    """A child process (by default `python -m app.cli ARGV`: `serve`, `watch`, …) whose output
    goes to a log file, which can be waited for, stopped, SIGKILLed and started again.

    `env` is added to this process's environment (`inherit_env=False`: it is the whole
    environment). With `new_session` the child leads its own process group and `stop()` signals
    the group (servers that start helpers of their own). Every start appends to the same log,
    after a banner line, so a restarted process keeps one log.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        port: int | None = None,
        command: Sequence[str] | None = None,
        cwd: Path = REPO,
        new_session: bool = False,
        preexec_fn: Callable[[], Any] | None = None,
        banner: bool = True,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.command = list(command) if command is not None else app_command(*argv)
        self.log_path = log_path
        self.env = dict(env or {})
        self.inherit_env = inherit_env
        self.port = port
        self.cwd = cwd
        self.new_session = new_session
        self.preexec_fn = preexec_fn
        self.banner = banner
        self.process: subprocess.Popen[bytes] | None = None
        self.pids: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def start(self) -> AppProcess:
        with self.log_path.open("ab") as log:
            if self.banner:
                log.write(f"\n===== {self.name} started at {time.time():.3f}\n".encode())
                log.flush()
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env={**os.environ, **self.env} if self.inherit_env else self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.new_session,
                preexec_fn=self.preexec_fn,
            )
        self.pids.append(self.process.pid)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def current_log(self) -> str:
        """The log of the running incarnation only (after its banner)."""
        text = self.log()
        return text[text.rfind(f"===== {self.name} started at") :]

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited with {self.returncode}:\n{self.log_tail()}")

    def wait_healthy(
        self, timeout: float = 90, *, path: str = "/health", ready: Iterable[int] = (200,)
    ) -> AppProcess:
        """Until `path` answers one of `ready` (default: /health says 200); raises if the process
        exits or the time runs out (then the process is stopped)."""
        wait_http(self.url + path, timeout, ready=ready, alive=self.check_alive)
        return self

    async def await_healthy(
        self, timeout: float = 90, *, path: str = "/health", ready: Iterable[int] = (200,)
    ) -> AppProcess:
        """`wait_healthy` for callers on an event loop (polls without blocking it)."""
        await async_wait_http(self.url + path, timeout, ready=ready, alive=self.check_alive)
        return self

    def wait_log(self, text: str, timeout: float = 90) -> None:
        """Until the running incarnation logged `text` (e.g. `watch.started`)."""
        deadline = time.monotonic() + timeout
        while text not in self.current_log():
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"no {text!r} from {self.name} in {timeout} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def wait_ready(self, timeout: float = 90) -> None:
        """serve (a process with a port): /health answers 200; watch: it logged `watch.started`."""
        if self.port is not None:
            self.wait_healthy(timeout)
        else:
            self.wait_log("watch.started", timeout)

    def _signal(self, sig: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            if self.new_session:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)

    def kill9(self) -> None:
        if self.alive():
            self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` s; the exit code (None if never started)."""
        if self.process is None:
            return None
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def clean_exit(self, code: int | None) -> bool:
        """uvicorn re-raises SIGTERM after its graceful shutdown, so `serve` ends with -15."""
        if code == 0:
            return True
        return code == -signal.SIGTERM and "Application shutdown complete" in self.log()[-3000:]


def serve_process(
    name: str,
    config: Path,
    log_dir: Path,
    *extra: str,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> AppProcess:
    """`stablecheckout serve -c CONFIG --listen 127.0.0.1:<free port> EXTRA` (not started)."""
    port = free_port()
    argv = ["serve", "-c", str(config), "--listen", f"127.0.0.1:{port}", *extra]
    return AppProcess(name, argv, log_dir / f"{name}.log", env=env, port=port, **options)


def watch_process(
    name: str, config: Path, log_dir: Path, *, env: Mapping[str, str] | None = None, **options: Any
) -> AppProcess:
    """`stablecheckout watch -c CONFIG` (not started); ready when it logs `watch.started`."""
    return AppProcess(
        name, ["watch", "-c", str(config)], log_dir / f"{name}.log", env=env, **options
    )


def _get_status(url: str) -> int | None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=1)
    try:
        conn.request("GET", parts.path or "/")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_http(
    url: str,
    timeout: float,
    *,
    ready: Iterable[int] = (200,),
    alive: Callable[[], None] | None = None,
) -> None:
    """Poll `GET url` every 0.1 s until it answers a status in `ready`; `alive` raises when the
    server being waited for has died."""
    wanted = set(ready)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        if _get_status(url) in wanted:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {sorted(wanted)} within {timeout:g} s")


async def async_wait_http(
    url: str,
    timeout: float,
    *,
    ready: Iterable[int] = (200,),
    alive: Callable[[], None] | None = None,
) -> None:
    wanted = set(ready)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        if await asyncio.to_thread(_get_status, url) in wanted:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {sorted(wanted)} within {timeout:g} s")


# ---------------------------------------------------------------------------------------------
# What the benchmarks read about processes and the machine


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid: int, key: str = "VmRSS") -> int:
    """A `/proc/PID/status` figure in kB (VmRSS, VmHWM, …)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise LookupError(f"{key} not in /proc/{pid}/status")


def runqueue_wait_seconds(pid: int) -> float:
    """Seconds the main thread (the event loop) was runnable but waiting for a CPU (schedstat)."""
    try:
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all CPUs (/proc/stat; idle and
    iowait are not busy)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])
    return (total - fields[3] - fields[4]) / CLK_TCK, total / CLK_TCK


def machine_busy_seconds() -> float:
    return machine_cpu_seconds()[0]


def postgres_cpu_seconds() -> float:
    """CPU used so far by PostgreSQL: its live processes plus the backends already reaped.

    Backends come and go (pool reconnects, autovacuum workers); the postmaster's cutime/cstime
    keeps what its exited children used, so the sum only grows.
    """
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        if comm.startswith("postgres"):
            fields = stat.rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime stime cutime cstime
    return total


def wait_quiet(limit: float, cores: float = 0.15, *, say: bool = True) -> float:
    """Wait up to `limit` s for a second in which the machine uses less than `cores` of a CPU;
    returns the last second's figure (in cores)."""
    end = time.monotonic() + limit
    while True:
        busy0 = machine_busy_seconds()
        time.sleep(1.0)
        used = machine_busy_seconds() - busy0
        if used < cores:
            return used
        if time.monotonic() >= end:
            if say:
                print(
                    f"  machine still busy ({used * 100:.0f} % of a core), going ahead", flush=True
                )
            return used


def nearest_rank(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, `q` in 0..100 (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def run_cli(*argv: str, database_url: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`stablecheckout ARGV` on `database_url`, its output captured as text (not checked)."""
    return subprocess.run(
        app_command(*argv),
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def create_api_key(config: Path, database_url: str, *flags: str) -> str:
    """`stablecheckout admin api-keys create FLAGS -c CONFIG` on `database_url`: the secret it
    prints on its last line (raises if the command fails)."""
    made = run_cli(
        "admin", "api-keys", "create", *flags, "-c", str(config), database_url=database_url
    )
    made.check_returncode()
    return made.stdout.splitlines()[-1]
