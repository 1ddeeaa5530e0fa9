"""The `stablecheckout` command. Its subcommands and flags are a promised contract."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence

from app.config import Settings, parse_listen

log = logging.getLogger("app.cli")


class _DenialNoise(logging.Filter):
    """uvicorn logs an error after a WebSocket upgrade is refused by an HTTP response (a 401)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        # Upgrade lines carry the page's signed URL and signature in the query string.
        return "without completing handshake" not in message and '"WebSocket /' not in message


def _settings(path: str | None) -> Settings:
    from app.root import settings_or_exit

    return settings_or_exit(path)


async def _ensure_schema(settings: Settings, migrate: bool) -> None:
    from app.migrate import current_revision, head_revision, upgrade_to_head

    if migrate or settings.is_sqlite:
        await upgrade_to_head(settings.database_url)
        return
    current, head = await current_revision(settings.database_url), head_revision()
    if current != head:
        raise SystemExit(
            f"stablecheckout: database schema is at {current or 'nothing'}, this version needs "
            f"{head}; run `stablecheckout migrate -c PATH` or pass --migrate"
        )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app import root
    from app.security.admin_auth import hash_plaintext_in_config
    from app.serving import uvicorn_options

    settings = _settings(args.config)
    try:
        host, port = parse_listen(args.listen or settings.server.listen)
    except ValueError as exc:
        raise SystemExit(f"stablecheckout: --listen: {exc}") from None
    asyncio.run(_ensure_schema(settings, args.migrate))
    hash_plaintext_in_config(settings)
    settings.server.listen = f"{host}:{port}"

    app = root.web_app(settings, run_jobs=not args.api_only)
    # Everything imported and built so far lives as long as the process: out of the collector's
    # sight, a full collection under load scans what requests made, not the whole app.
    gc.collect()
    gc.freeze()
    log.info("serve.listening url=http://%s:%d", host, port)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=args.log_level,
        log_config=None,  # uvicorn's lines go through our handler, which redacts query strings
        access_log=False,
        ws="websockets-sansio",
        ws_per_message_deflate=False,  # ~37 KiB of zlib state per socket for ~300-byte frames
        lifespan="on",
        timeout_graceful_shutdown=5,
        **uvicorn_options(settings),
    )
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from app import root
    from app.jobs import JobRunner

    settings = _settings(args.config)

    async def run() -> None:
        await _ensure_schema(settings, migrate=False)
        async with root.opened(settings) as services:
            runner = JobRunner(root.all_jobs(services))
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await runner.start()
            log.info("watch.started")
            await stop.wait()
            await runner.stop()

    asyncio.run(run())
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.migrate import current_revision, upgrade_to_head

    settings = _settings(args.config)
    asyncio.run(upgrade_to_head(settings.database_url))
    print(f"database at revision {asyncio.run(current_revision(settings.database_url))}")
    return 0


def cmd_sign_url(args: argparse.Namespace) -> int:
    from app.security.signatures import sign_url

    settings = _settings(args.config)
    ts = args.timestamp if args.timestamp is not None else int(time.time())
    print(sign_url(settings.merchant.secret, args.url, ts))
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    from app.admin.cli import run

    return run(_settings(args.config), args)


def cmd_dev(args: argparse.Namespace) -> int:
    try:
        from devkit.server import main as run_dev
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("devkit"):
            raise
        print(
            "stablecheckout dev needs the development tooling (the `devkit` package), which the"
            " runtime image leaves out: run it from a source checkout (`make dev`) or use the"
            " `demo` image (docker build --target demo).",
            file=sys.stderr,
        )
        return 2
    return run_dev(args.host, args.port, args.workdir)


def cmd_gen_secret(args: argparse.Namespace) -> int:
    from app.secret_policy import new_secret

    print(new_secret(webhook=args.webhook))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stablecheckout",
        description="Self-hosted stablecoin checkout server (Ocrch-compatible).",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--log-format",
        default=os.environ.get("STABLECHECKOUT_LOG_FORMAT", "text"),
        choices=["text", "json"],
        help="json: one object per line with request ids (env STABLECHECKOUT_LOG_FORMAT)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API (and, unless --api-only, the workers)")
    serve.add_argument("-c", "--config", required=True, help="path to the TOML config file")
    serve.add_argument("--listen", help="HOST:PORT (default: [server].listen)")
    serve.add_argument(
        "--migrate",
        action="store_true",
        help="apply database migrations first (always done on SQLite)",
    )
    serve.add_argument(
        "--api-only",
        action="store_true",
        help="run only the API; watchers and senders run in `watch` processes",
    )
    serve.set_defaults(func=cmd_serve)

    watch = sub.add_parser("watch", help="run chain watchers, expiry sweeper and webhook sender")
    watch.add_argument("-c", "--config", required=True)
    watch.set_defaults(func=cmd_watch)

    dev = sub.add_parser("dev", help="the all-in-one demo: local chain, API, watchers, demo shop")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8080)
    dev.add_argument(
        "--workdir", default=".stablecheckout-dev", help="scratch directory (new on every start)"
    )
    dev.set_defaults(func=cmd_dev)

    from app.admin.cli import add_parser as add_admin

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", required=True, help="path to the TOML config file")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.set_defaults(func=cmd_admin)
    add_admin(sub, common)

    migrate = sub.add_parser("migrate", help="upgrade the database schema to the newest revision")
    migrate.add_argument("-c", "--config", required=True)
    migrate.set_defaults(func=cmd_migrate)

    sign = sub.add_parser("sign-url", help="print the Ocrch-Signature value for a checkout URL")
    sign.add_argument("-c", "--config", required=True)
    sign.add_argument("url")
    sign.add_argument("--timestamp", type=int, help="sign as of this Unix time (default: now)")
    sign.set_defaults(func=cmd_sign_url)

    gen = sub.add_parser(
        "gen-secret",
        help="print a fresh random secret (256 bits) for [merchant].secret or [admin].secret",
    )
    gen.add_argument(
        "--webhook",
        action="store_true",
        help="a `whsec_`-prefixed key for [checkout_sessions].webhook_secret",
    )
    gen.set_defaults(func=cmd_gen_secret)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from app.observability import configure_logging

    configure_logging(args.log_level, args.log_format)
    logging.getLogger("uvicorn.error").addFilter(_DenialNoise())
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
