"""Rewriting the config file in place without ever showing a reader a partial file.

The file is replaced, never truncated: the new text goes to a temporary file in the same
directory, is flushed to disk, then `os.replace`d over the old one (atomic on POSIX), and the
directory entry is synced. A reader opens either the old file or the new one. Writers take an
exclusive `flock` on `<config>.lock`, so two processes starting at once (replicas sharing a
volume, `serve` and an admin command) read-modify-write one after the other and neither undoes
the other's change.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the cross-process lock that guards rewrites of `path`."""
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a", encoding="utf-8") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def replace_text(path: Path, text: str) -> None:
    """Atomically make `text` the content of `path`, keeping its permission bits."""
    mode = path.stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def rewrite(path: Path, change: Callable[[str], str | None]) -> bool:
    """Under the lock, read `path`, and write `change(text)` back unless it returns None (nothing
    to do: another process may have made the change first). True if the file was rewritten."""
    with locked(path):
        new = change(path.read_text(encoding="utf-8"))
        if new is None:
            return False
        replace_text(path, new)
        return True
