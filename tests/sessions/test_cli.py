"""`stablecheckout admin api-keys create|list|revoke` as scripts run it: the secret alone on the
last line of `create` (the contract), only its hash stored, a revoked key refused at once."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.config import load_settings
from app.main import create_app
from app.models import ApiKey
from app.sessions.keys import hash_secret
from tests.conftest import write_config
from tests.in_process_cli import run_cli
from tests.sessions.conftest import bearer, cart_body, create, session_settings_dict


def cli(config: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("admin", "api-keys", *args, "-c", str(config), database_url=database_url)


async def test_api_keys_cli(database_url: str, tmp_path: Path, sdb: Any) -> None:
    data = session_settings_dict(database_url)
    config = write_config(tmp_path / "config.toml", data)
    made = cli(config, database_url, "create", "--test", "--name", "ci")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.splitlines()[-1]
    assert re.fullmatch(r"sk_test_[A-Za-z0-9]{40}", secret), made.stdout
    assert made.stdout.count(secret) == 1
    live = cli(config, database_url, "create").stdout.splitlines()[-1]
    assert re.fullmatch(r"sk_live_[A-Za-z0-9]{40}", live)

    async with sdb() as db:
        rows = list(await db.scalars(sa.select(ApiKey).order_by(ApiKey.created_at)))
    assert [(r.mode, r.name) for r in rows] == [("test", "ci"), ("live", None)]
    assert rows[0].secret_hash == hash_secret(secret) and secret not in repr(
        [(r.prefix, r.secret_hash) for r in rows]
    )

    listed = cli(config, database_url, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    keys = json.loads(listed.stdout)
    assert [k["mode"] for k in keys] == ["test", "live"] and keys[0]["revoked_at"] is None
    assert secret not in listed.stdout and live not in listed.stdout
    table = cli(config, database_url, "list").stdout
    assert keys[0]["prefix"] in table and "ci" in table

    settings = load_settings(None, **data)
    async with AsyncTestClient(app=create_app(settings)) as api:
        assert (await create(api, secret, cart_body())).status_code == 201
        revoked = cli(config, database_url, "revoke", keys[0]["prefix"])
        assert revoked.returncode == 0 and "revoked test API key" in revoked.stdout
        refused = await create(api, secret, cart_body())
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
        listing = await api.get("/api/v1/checkout/sessions", headers=bearer(live))
        assert listing.status_code == 200 and listing.json()["data"] == []  # test ≠ live

    unknown = cli(config, database_url, "revoke", "sk_test_nope")
    assert unknown.returncode == 1 and "no API key matches" in unknown.stderr
