"""Hashing the admin secret into the config file while another process keeps loading it: the
reader never sees an empty or partial file (issue 14, item 12)."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from pathlib import Path

import tomlkit

from app.config import load_settings
from app.security import config_file
from app.security.admin_auth import hash_plaintext_in_config, verify_secret

ADMIN = "a-strong-admin-secret-for-tests"
MERCHANT = "m" * 40

READER = """
import sys, time, tomllib
from pathlib import Path

path, stop = Path(sys.argv[1]), Path(sys.argv[2])
loads = bad = 0
while not stop.exists():
    loads += 1
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        if not data["admin"]["secret"] or len(data["api_keys"]["padding"]) != 10:
            bad += 1
    except (tomllib.TOMLDecodeError, KeyError, UnicodeDecodeError, FileNotFoundError):
        bad += 1
print(loads, bad)
"""


def write_plain(path: Path) -> None:
    """A config with the plaintext secret, padded so that writing it takes measurable time."""
    document = {
        "admin": {"secret": ADMIN},
        "merchant": {"name": "Shop", "secret": MERCHANT},
        "api_keys": {"padding": [f"line {n} " + "x" * 10000 for n in range(10)]},
    }
    config_file.replace_text(path, tomlkit.dumps(document)) if path.exists() else path.write_text(
        tomlkit.dumps(document), encoding="utf-8"
    )


def test_concurrent_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_plain(path)
    stop = tmp_path / "stop"
    script = tmp_path / "reader.py"
    script.write_text(READER)
    reader = subprocess.Popen(
        [sys.executable, str(script), str(path), str(stop)], stdout=subprocess.PIPE, text=True
    )
    rewrites = 0
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            settings = hash_plaintext_in_config(load_settings(path))
            rewrites += 1
            assert verify_secret(settings.admin.secret, ADMIN)
            write_plain(path)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=30)
    loads, bad = (int(n) for n in out.split())
    assert rewrites >= 3 and loads > 100
    assert bad == 0, f"the reader saw {bad} partial or empty files in {loads} loads"


def test_rewrite_keeps_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_plain(path)
    path.chmod(0o640)
    settings = hash_plaintext_in_config(load_settings(path))
    assert path.stat().st_mode & 0o777 == 0o640
    assert tomllib.loads(path.read_text())["admin"]["secret"] == settings.admin.secret
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "config.toml.lock"]


def test_second_writer_under_the_lock_does_nothing(tmp_path: Path) -> None:
    """Two processes hash the same plaintext: the one that takes the lock second finds the hash
    and leaves the file alone, so both keep a hash that verifies."""
    path = tmp_path / "config.toml"
    write_plain(path)
    first = hash_plaintext_in_config(load_settings(path)).admin.secret
    assert config_file.rewrite(path, lambda text: None) is False
    stale = load_settings(path)
    stale.admin.secret = ADMIN  # a process that loaded the file before the first rewrite
    hash_plaintext_in_config(stale)
    assert tomllib.loads(path.read_text())["admin"]["secret"] == first
