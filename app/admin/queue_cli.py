"""`stablecheckout admin refunds|exceptions|accept-paid`: the exceptions queue from a terminal.

    stablecheckout admin exceptions unmatched -c config.toml [--csv]
    stablecheckout admin exceptions flagged -c config.toml [--exception overpaid] [--csv]
    stablecheckout admin refunds list -c config.toml [--status claimed] [--csv]
    stablecheckout admin refunds link ID -c config.toml          (prints the claim link)
    stablecheckout admin refunds mark-refunded ID TX -c config.toml --reason "paid by hand"
    stablecheckout admin accept-paid ORDER_ID -c config.toml --reason "accepted 1 USDT short"

The same services as the Admin API (`app.admin.queue`), so both do exactly the same thing; the
actions are audited with the CLI's actor (`cli:user@host`). `--csv` writes the CSV export to
standard output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import DBAPIError

from app import root
from app.admin import queue, queue_csv
from app.admin.cli import _plain, actor, table
from app.admin.queue_schemas import FlaggedPayment, UnmatchedTransfer
from app.chains import Blockchain
from app.cli_failures import failed
from app.config import Settings
from app.errors import AppError
from app.http import Services
from app.orders.models import PaymentException
from app.refunds.models import RefundStatus

Command = Callable[[Services, argparse.Namespace], Awaitable[Any]]


async def _in_transaction(services: Services, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from app.db import unit_of_work

    async with unit_of_work(services.sessionmaker, services.publisher) as session:
        return await work(session)


async def cmd_unmatched(services: Services, args: argparse.Namespace) -> Any:
    chain = Blockchain(args.blockchain) if args.blockchain else None

    async def fetch(size: int | None, start: int | None) -> Any:
        return await _in_transaction(
            services,
            lambda s: queue.unmatched(
                s, services.settings, limit=size, offset=start, blockchain=chain
            ),
        )

    if args.csv:
        rows = queue_csv.unmatched_rows(await queue_csv.collect(fetch))
        return queue_csv.to_csv(rows, queue_csv.UNMATCHED_COLUMNS)
    return await fetch(args.limit, args.offset)


async def cmd_flagged(services: Services, args: argparse.Namespace) -> Any:
    kind = PaymentException(args.exception) if args.exception else None

    async def fetch(size: int | None, start: int | None) -> Any:
        return await _in_transaction(
            services,
            lambda s: queue.flagged(s, services.settings, limit=size, offset=start, exception=kind),
        )

    if args.csv:
        rows = queue_csv.flagged_rows(await queue_csv.collect(fetch))
        return queue_csv.to_csv(rows, queue_csv.FLAGGED_COLUMNS)
    return await fetch(args.limit, args.offset)


async def cmd_refunds(services: Services, args: argparse.Namespace) -> Any:
    status = RefundStatus(args.status) if args.status else None

    async def fetch(size: int | None, start: int | None) -> Any:
        return await _in_transaction(
            services, lambda s: queue.refund_items(s, limit=size, offset=start, status=status)
        )

    if args.csv:
        rows = [r.model_dump(mode="json") for r in await queue_csv.collect(fetch)]
        return queue_csv.to_csv(rows, queue_csv.REFUND_COLUMNS)
    return await fetch(args.limit, args.offset)


async def cmd_show(services: Services, args: argparse.Namespace) -> Any:
    return await _in_transaction(services, lambda s: queue.refund_item(s, args.item_id))


async def cmd_link(services: Services, args: argparse.Namespace) -> Any:
    settings = services.settings
    base = settings.server.public_url
    if not base:
        raise ValueError("set [server].public_url: the link must name the address shoppers reach")
    return await _in_transaction(
        services, lambda s: queue.claim_link(s, settings, args.item_id, base, actor=actor())
    )


async def cmd_mark_refunded(services: Services, args: argparse.Namespace) -> Any:
    return await queue.mark_refunded(
        services, args.item_id, args.tx_hash, actor=actor(), reason=args.reason
    )


async def cmd_accept_paid(services: Services, args: argparse.Namespace) -> Any:
    order_id = uuid.UUID(args.order_id)
    return await _in_transaction(
        services, lambda s: queue.accept_as_paid(s, order_id, actor=actor(), reason=args.reason)
    )


COMMANDS: dict[str, Command] = {
    "unmatched": cmd_unmatched,
    "flagged": cmd_flagged,
    "list": cmd_refunds,
    "show": cmd_show,
    "link": cmd_link,
    "mark-refunded": cmd_mark_refunded,
    "accept-paid": cmd_accept_paid,
}
REFUND_TABLE = ("id", "status", "kind", "blockchain", "token", "amount", "claim_address")
UNMATCHED_TABLE = (
    "transfer_id",
    "blockchain",
    "token",
    "value",
    "txn_hash",
    "nearest_order_id",
    "nearest_value",
    "nearest_difference",
)


def render(name: str, data: Any) -> str:
    if isinstance(data, str):
        return data.rstrip("\r\n")
    if name in ("list", "show", "mark-refunded"):
        rows = data if isinstance(data, list) else [data]
        return table(rows, (*REFUND_TABLE, "order_id", "refund_tx_hash"))
    if name == "link":
        return str(data["url"])
    if name == "unmatched":
        rows = queue_csv.unmatched_rows(_models(UnmatchedTransfer, data))
        return table(rows, UNMATCHED_TABLE)
    if name == "flagged":
        rows = queue_csv.flagged_rows(_models(FlaggedPayment, data))
        return table(
            rows, ("transfer_id", "exception", "blockchain", "value", "order_id", "refund_ids")
        )
    if name == "accept-paid":
        return table([data], ("order_id", "merchant_order_id", "amount", "status"))
    return json.dumps(data, indent=2)


def _models(model: Any, data: list[dict[str, Any]]) -> list[Any]:
    return [model.model_validate(row) for row in data]


def run(args: argparse.Namespace) -> int:
    settings: Settings = root.settings_or_exit(args.config)
    name = args.queue_command

    async def go() -> Any:
        async with root.opened(settings) as services:
            return await COMMANDS[name](services, args)

    try:
        result = asyncio.run(go())
    except (AppError, ValueError, DBAPIError) as exc:
        return failed("stablecheckout admin", exc)
    if getattr(args, "json", False) and not isinstance(result, str):
        print(json.dumps(_plain(result), indent=2, default=str))
    else:
        print(render(name, _plain(result)))
    return 0


def _page_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--csv", action="store_true", help="the CSV export, to standard output")


def add_parsers(verbs: Any) -> None:
    """`admin exceptions …`, `admin refunds …` and `admin accept-paid` under `admin`."""
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("-c", "--config", required=True, help="path to the TOML config file")
    config.add_argument("--json", action="store_true", help="machine-readable output")
    config.set_defaults(func=run)

    exceptions = verbs.add_parser("exceptions", help="the exceptions queue (docs/admin.md)")
    sections = exceptions.add_subparsers(dest="queue_command", required=True)
    unmatched = sections.add_parser(
        "unmatched", parents=[config], help="transfers no order took, with nearest candidates"
    )
    unmatched.add_argument("--blockchain", choices=[b.value for b in Blockchain])
    _page_args(unmatched)
    flagged = sections.add_parser("flagged", parents=[config], help="flagged payments")
    flagged.add_argument("--exception", choices=[k.value for k in PaymentException])
    _page_args(flagged)

    refunds = verbs.add_parser("refunds", help="refund items (docs/payments.md, Refunds)")
    actions = refunds.add_subparsers(dest="queue_command", required=True)
    listing = actions.add_parser("list", parents=[config], help="refund items, newest first")
    listing.add_argument("--status", choices=[s.value for s in RefundStatus])
    _page_args(listing)
    show = actions.add_parser("show", parents=[config], help="one refund item")
    show.add_argument("item_id", type=int)
    link = actions.add_parser("link", parents=[config], help="print a signed claim link")
    link.add_argument("item_id", type=int)
    mark = actions.add_parser(
        "mark-refunded", parents=[config], help="record a refund you paid (checked on chain)"
    )
    mark.add_argument("item_id", type=int)
    mark.add_argument("tx_hash")
    mark.add_argument("--reason", required=True)

    accept = verbs.add_parser(
        "accept-paid", parents=[config], help="accept an unpaid order as paid (audited)"
    )
    accept.set_defaults(queue_command="accept-paid")
    accept.add_argument("order_id")
    accept.add_argument("--reason", required=True)
