"""`stablecheckout ARGV` run by `app.cli.main` inside the test process.

A new Python process costs 1.5 to 2 s of imports on a 2-core machine, and the operator-flow tests
run dozens of commands; here each one costs milliseconds. What a process would add is covered once,
by tests/test_cli.py, which keeps running `python -m app.cli` for the entry point and exit codes.

Each command runs in its own thread (the CLI calls `asyncio.run`, which refuses to nest in the
test's event loop) with `DATABASE_URL` set, stdout and stderr captured, `SystemExit` turned into a
return code as the interpreter would, and the logging setup the CLI installs undone afterwards.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

from app.cli import main

_ONE_AT_A_TIME = threading.Lock()
_LOGGERS = ("", "uvicorn.error", "alembic", "web3", "httpx", "websockets", "aiosqlite", "asyncio")


def run_cli(*argv: str, database_url: str = "") -> subprocess.CompletedProcess[str]:
    """What `devkit.harness.run_cli` answers, without starting a process (`DATABASE_URL` is
    set when `database_url` is given)."""
    out, err = io.StringIO(), io.StringIO()
    outcome: dict[str, Any] = {}

    def command() -> None:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                outcome["code"] = main(list(argv))
            except SystemExit as exc:
                outcome["code"] = _exit_code(exc, err)

    with (
        _ONE_AT_A_TIME,
        _environment(**({"DATABASE_URL": database_url} if database_url else {})),
        _logging_restored(),
    ):
        thread = threading.Thread(target=command, name="stablecheckout-cli")
        thread.start()
        thread.join(120)
    if thread.is_alive():
        raise TimeoutError(f"stablecheckout {' '.join(argv)} ran over 120 s")
    if "code" not in outcome:
        raise RuntimeError(f"stablecheckout {' '.join(argv)} crashed:\n{err.getvalue()}")
    return subprocess.CompletedProcess(
        ["stablecheckout", *argv], outcome["code"], out.getvalue(), err.getvalue()
    )


def create_api_key(config: Path, database_url: str, *flags: str) -> str:
    """`stablecheckout admin api-keys create FLAGS -c CONFIG`: the secret on its last line."""
    made = run_cli(
        "admin", "api-keys", "create", *flags, "-c", str(config), database_url=database_url
    )
    made.check_returncode()
    return made.stdout.splitlines()[-1]


def _exit_code(exc: SystemExit, err: io.StringIO) -> int:
    """The interpreter's rule: None is 0, an int is itself, anything else is printed and 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=err)
    return 1


@contextlib.contextmanager
def _environment(**values: str) -> Any:
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _logging_restored() -> Any:
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    saved = [(lg, lg.handlers[:], lg.filters[:], lg.level) for lg in loggers]
    try:
        yield
    finally:
        for lg, handlers, filters, level in saved:
            lg.handlers[:] = handlers
            lg.filters[:] = filters
            lg.setLevel(level)
