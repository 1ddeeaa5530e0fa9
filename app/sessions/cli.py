"""`stablecheckout admin api-keys create|list|revoke`: the Checkout Sessions API keys.

    stablecheckout admin api-keys create -c config.toml [--test] [--name NAME]

prints the new secret key alone on its last line of output (a contract: scripts take the last
line); only its SHA-256 is stored, so it is shown this once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app import root
from app.cli_failures import failed
from app.config import Settings
from app.errors import AppError
from app.sessions import keys
from app.sessions.models import ApiKey
from app.sessions.service import key_mode

T = TypeVar("T")


def _when(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


def key_row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "prefix": f"{key.prefix}…",
        "mode": key.mode,
        "name": key.name,
        "created_at": _when(key.created_at),
        "revoked_at": _when(key.revoked_at),
    }


def _run(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def go() -> T:
        async with root.one_transaction(settings) as session:
            return await work(session)

    return asyncio.run(go())


def cmd_create(settings: Settings, args: argparse.Namespace) -> int:
    key, secret = _run(
        settings, lambda session: keys.create_api_key(session, key_mode(args.test), args.name)
    )
    if key.mode == "test":
        scope = "test sessions only (livemode false); live keys never see them"
    else:
        scope = "live sessions only"
    print(f"created {key.mode} API key {key.id} ({key.prefix}…), for {scope}")
    print("store it now: only its SHA-256 hash is kept, it cannot be shown again")
    print(secret)
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    rows = [key_row(k) for k in _run(settings, keys.list_api_keys)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from app.admin.cli import table

    print(table(rows, ("id", "prefix", "mode", "name", "created_at", "revoked_at")))
    return 0


def cmd_revoke(settings: Settings, args: argparse.Namespace) -> int:
    key = _run(settings, lambda session: keys.revoke_api_key(session, args.key))
    if args.json:
        print(json.dumps(key_row(key), indent=2))
    else:
        print(f"revoked {key.mode} API key {key.id} ({key.prefix}…) at {_when(key.revoked_at)}")
    return 0


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "create": cmd_create,
    "list": cmd_list,
    "revoke": cmd_revoke,
}


def run(args: argparse.Namespace) -> int:
    settings = root.settings_or_exit(args.config)
    try:
        return COMMANDS[args.api_keys_command](settings, args)
    except (AppError, DBAPIError) as exc:
        return failed("stablecheckout admin api-keys", exc)


def add_parser(verbs: Any) -> None:
    """`admin api-keys …` under the `admin` command's verbs."""
    parser = verbs.add_parser(
        "api-keys", help="Checkout Sessions API keys (docs/checkout-sessions.md)"
    )
    commands = parser.add_subparsers(dest="api_keys_command", required=True)
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("-c", "--config", required=True, help="path to the TOML config file")
    config.set_defaults(func=run)
    create = commands.add_parser(
        "create", parents=[config], help="a new key; its secret is the last line of output"
    )
    create.add_argument("--test", action="store_true", help="a test-mode key (sk_test_…)")
    create.add_argument("--name", help="a label to recognize the key by")
    listing = commands.add_parser("list", parents=[config], help="every key, revoked ones too")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = commands.add_parser("revoke", parents=[config], help="revoke a key at once")
    revoke.add_argument("key", help="the key's id, its listed prefix, or the secret itself")
    revoke.add_argument("--json", action="store_true", help="machine-readable output")
