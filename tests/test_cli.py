"""The CLI contract (contracts.md): commands, flags and outputs scripts rely on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from app.migrate import current_revision, head_revision
from app.security.signatures import sign_url
from devkit.harness import PG_SERVER, create_database, database_name, drop_database
from tests.conftest import K1, REPO, settings_dict, write_config


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_sign_url_prints_the_signature_value(tmp_path: Path) -> None:
    data = settings_dict("sqlite+aiosqlite:///unused.db")
    config = write_config(tmp_path / "c.toml", data)
    url = "https://checkout.example.com/pay?order_id=0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e"
    result = run_cli("sign-url", "-c", str(config), url, "--timestamp", "1711900800")
    assert result.returncode == 0, result.stderr
    # The U1 vector itself is checked at the signing function (tests/security/test_signatures.py):
    # its key is too weak to load as a config.
    assert result.stdout.strip() == sign_url(K1, url, 1711900800)
    now = run_cli("sign-url", "-c", str(config), url)
    assert now.stdout.strip().split(".")[0].isdigit()


def test_bad_config_fails_naming_the_key(tmp_path: Path) -> None:
    data = settings_dict("sqlite+aiosqlite:///unused.db")
    data["wallets"][0]["blockchain"] = "bitcoin"
    config = write_config(tmp_path / "c.toml", data)
    result = run_cli("serve", "-c", str(config), "--listen", "127.0.0.1:1")
    assert result.returncode != 0
    assert "wallets.0.blockchain" in result.stderr


def test_migrate_then_serve_checks_schema_on_postgresql(
    tmp_path: Path, postgresql_database_url: str
) -> None:
    name = database_name("sc_cli")
    url = asyncio.run(create_database(PG_SERVER, name, admin_db="test"))
    try:
        config = write_config(tmp_path / "c.toml", settings_dict(url))
        refused = run_cli(
            "serve", "-c", str(config), "--listen", "127.0.0.1:1", env={"DATABASE_URL": url}
        )
        assert refused.returncode != 0
        assert "stablecheckout migrate" in refused.stderr
        migrated = run_cli("migrate", "-c", str(config), env={"DATABASE_URL": url})
        assert migrated.returncode == 0, migrated.stderr
        assert asyncio.run(current_revision(url)) == head_revision()
    finally:
        asyncio.run(drop_database(PG_SERVER, name, admin_db="test"))


def test_help_lists_the_contract() -> None:
    result = run_cli("--help")
    for command in ("serve", "watch", "migrate", "sign-url"):
        assert command in result.stdout
    serve = run_cli("serve", "--help").stdout
    for flag in ("-c", "--listen", "--migrate", "--api-only"):
        assert flag in serve


@pytest.mark.parametrize("listen", ["8080", "host:", "host:99999"])
def test_bad_listen(tmp_path: Path, listen: str) -> None:
    config = write_config(tmp_path / "c.toml", settings_dict("sqlite+aiosqlite:///unused.db"))
    result = run_cli("serve", "-c", str(config), "--listen", listen)
    assert result.returncode != 0
    assert "--listen" in result.stderr
