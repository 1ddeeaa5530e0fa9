"""`stablecheckout admin …`: the Admin API's services from a terminal, for support and scripts.

    stablecheckout admin find -c config.toml <order id | shop order id | tx hash | wallet>

answers "the customer says they paid" in one command: the order, what was reserved for it, what
arrived on chain, and what the merchant was told.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import json
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import BaseModel

from app import root
from app.admin import service
from app.admin.routes import ANSWERS
from app.answers import answer
from app.cli_failures import failed
from app.config import Settings
from app.errors import AppError, OrderNotFound
from app.orders.models import OrderStatus
from app.transfers.models import TransferStatus
from app.webhooks import service as webhooks

Command = Callable[[Any, Settings, argparse.Namespace], Awaitable[Any]]


def actor() -> str:
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _cell(value: Any) -> str:
    if isinstance(value, int) and value > 1_000_000_000 and value < 10_000_000_000:
        return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if value is None:
        return "-"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


ORDER_COLUMNS = (
    "order_id",
    "merchant_order_id",
    "amount",
    "status",
    "created_at",
    "webhook_retry_count",
    "webhook_success_at",
)
TRANSFER_COLUMNS = (
    "id",
    "blockchain",
    "token",
    "value",
    "status",
    "txn_hash",
    "order_id",
    "block_timestamp",
)


async def cmd_orders(session: Any, settings: Settings, args: argparse.Namespace) -> Any:
    status = OrderStatus(args.status) if args.status else None
    return await service.list_orders(
        session, limit=args.limit, offset=args.offset, status=status, merchant_order_id=args.ref
    )


async def cmd_transfers(session: Any, settings: Settings, args: argparse.Namespace) -> Any:
    status = TransferStatus.NO_MATCHED_DEPOSIT if args.unmatched else None
    return await service.list_transfers(
        session, settings, address=args.address, tx_hash=args.tx, status=status, limit=args.limit
    )


async def cmd_find(session: Any, settings: Settings, args: argparse.Namespace) -> Any:
    """Everything about whatever the customer quoted, newest first."""
    query = args.query.strip()
    order_ids: list[uuid.UUID] = []
    transfers = []
    try:
        order_ids.append(uuid.UUID(query))
    except ValueError:
        if (query.lower().startswith("0x") and len(query) == 66) or len(query) in (64, 86, 87, 88):
            transfers = await service.list_transfers(session, settings, tx_hash=query)
        elif (
            (query.lower().startswith("0x") and len(query) == 42)
            or query.startswith("T")
            or 32 <= len(query) <= 44
        ):
            transfers = await service.list_transfers(session, settings, address=query)
        if not transfers:
            orders = await service.list_orders(session, merchant_order_id=query, limit=10)
            order_ids += [o.order_id for o in orders]
    order_ids += [t.order_id for t in transfers if t.order_id and t.order_id not in order_ids]
    found = []
    for order_id in order_ids:
        try:
            order = await service.get_admin_order(session, order_id)
        except OrderNotFound:
            continue  # a UUID that is no order finds nothing
        found.append(
            {
                "order": order,
                "deposits": await service.list_deposits(session, order_id=order_id),
                "transfers": await service.list_transfers(session, settings, order_id=order_id),
                "webhooks": await webhooks.delivery_log(session, order_id),
            }
        )
    unlinked = [t for t in transfers if t.order_id is None]
    return {"orders": found, "unlinked_transfers": unlinked}


async def cmd_mark_paid(session: Any, settings: Settings, args: argparse.Namespace) -> Any:
    return await service.mark_paid(
        session, uuid.UUID(args.order_id), actor=actor(), reason=args.reason
    )


async def cmd_attach(session: Any, settings: Settings, args: argparse.Namespace) -> Any:
    return await service.attach_transfer(
        session,
        settings,
        args.transfer_id,
        uuid.UUID(args.order_id),
        actor=actor(),
        reason=args.reason,
    )


async def cmd_resend(session: Any, settings: Settings, args: argparse.Namespace) -> Any:
    event = await service.resend_order_webhook(session, uuid.UUID(args.order_id), actor=actor())
    status = event.payload.get("status") or event.payload.get("type")  # a session event: its type
    return {"event_id": str(event.id), "status": status}


async def cmd_webhooks(session: Any, settings: Settings, args: argparse.Namespace) -> Any:
    return await webhooks.delivery_log(session, uuid.UUID(args.order_id))


async def cmd_wallets(session: Any, settings: Settings, args: argparse.Namespace) -> Any:
    return service.list_wallets(settings)


async def cmd_totals(session: Any, settings: Settings, args: argparse.Namespace) -> Any:
    until = (
        dt.datetime.fromisoformat(args.until).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
        if args.until
        else dt.datetime.now(dt.UTC)
    )
    since = (
        dt.datetime.fromisoformat(args.since).replace(tzinfo=dt.UTC)
        if args.since
        else until - dt.timedelta(days=30)
    )
    return await service.totals(session, settings, since, until)


def render(name: str, result: Any) -> str:
    data = _plain(result)
    if name in ("orders", "mark-paid", "attach"):
        return table(data if isinstance(data, list) else [data], ORDER_COLUMNS)
    if name == "transfers":
        return table(data, TRANSFER_COLUMNS)
    if name == "wallets":
        return table(
            [{**w, "enabled_coins": ",".join(w["enabled_coins"])} for w in data],
            ("blockchain", "address", "enabled_coins"),
        )
    if name == "totals":
        return table(data, ("day", "blockchain", "token", "count", "amount"))
    if name == "webhooks":
        rows = [
            {"event": e["event_type"], "status": e["status"], **a}
            for e in data
            for a in (e["attempts"] or [{}])
        ]
        return table(
            rows, ("event", "status", "attempt", "started_at", "status_code", "latency_ms", "error")
        )
    if name == "find":
        parts = []
        for entry in data["orders"]:
            parts += [
                "ORDER",
                table([entry["order"]], (*ORDER_COLUMNS, "status_reason")),
                "DEPOSITS (what the shopper was asked to send)",
                table(
                    entry["deposits"],
                    (
                        "id",
                        "blockchain",
                        "token",
                        "value",
                        "wallet_address",
                        "status",
                        "started_at",
                    ),
                ),
                "TRANSFERS (what arrived on chain)",
                table(entry["transfers"], TRANSFER_COLUMNS),
                "WEBHOOKS (what the merchant was told)",
                render("webhooks", entry["webhooks"]),
                "",
            ]
        if data["unlinked_transfers"]:
            parts += [
                "TRANSFERS LINKED TO NO ORDER (attach one with `admin attach`)",
                table(data["unlinked_transfers"], TRANSFER_COLUMNS),
            ]
        return "\n".join(parts) if parts else "nothing found"
    return json.dumps(data, indent=2)


COMMANDS: dict[str, Command] = {
    "orders": cmd_orders,
    "transfers": cmd_transfers,
    "find": cmd_find,
    "mark-paid": cmd_mark_paid,
    "attach": cmd_attach,
    "resend": cmd_resend,
    "webhooks": cmd_webhooks,
    "wallets": cmd_wallets,
    "totals": cmd_totals,
}


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    admin = sub.add_parser("admin", help="operator commands (see docs/operations.md)")
    verbs = admin.add_subparsers(dest="admin_command", required=True)
    orders = verbs.add_parser("orders", parents=[common], help="list orders, newest first")
    orders.add_argument("--status", choices=[s.value for s in OrderStatus])
    orders.add_argument("--ref", help="the shop's order id (merchant_order_id)")
    orders.add_argument("--limit", type=int, default=20)
    orders.add_argument("--offset", type=int, default=0)
    transfers = verbs.add_parser("transfers", parents=[common], help="list transfers")
    transfers.add_argument("--unmatched", action="store_true")
    transfers.add_argument("--address")
    transfers.add_argument("--tx")
    transfers.add_argument("--limit", type=int, default=20)
    find = verbs.add_parser(
        "find",
        parents=[common],
        help="everything about an order id, shop order id, tx hash or wallet",
    )
    find.add_argument("query")
    paid = verbs.add_parser("mark-paid", parents=[common], help="mark an order paid")
    paid.add_argument("order_id")
    paid.add_argument("--reason", required=True)
    attach = verbs.add_parser(
        "attach", parents=[common], help="credit an unmatched transfer to an order"
    )
    attach.add_argument("transfer_id", type=int)
    attach.add_argument("order_id")
    attach.add_argument("--reason", required=True)
    resend = verbs.add_parser("resend", parents=[common], help="resend an order's webhook")
    resend.add_argument("order_id")
    hooks = verbs.add_parser("webhooks", parents=[common], help="an order's webhook attempts")
    hooks.add_argument("order_id")
    verbs.add_parser("wallets", parents=[common], help="configured wallets")
    totals = verbs.add_parser("totals", parents=[common], help="received per day, chain, coin")
    totals.add_argument("--since", help="YYYY-MM-DD (default: 30 days ago)")
    totals.add_argument("--until", help="YYYY-MM-DD (default: today)")
    from app.admin.queue_cli import add_parsers as add_queue
    from app.sessions.cli import add_parser as add_api_keys

    add_api_keys(verbs)
    add_queue(verbs)


def run(settings: Settings, args: argparse.Namespace) -> int:
    command = COMMANDS[args.admin_command]

    async def go() -> Any:
        async with root.one_transaction(settings) as session:
            return await command(session, settings, args)

    try:
        result = asyncio.run(go())
    except (AppError, ValueError) as exc:
        return failed("stablecheckout admin", exc, lambda e: answer(e, ANSWERS)[1])
    if args.json:
        print(json.dumps(_plain(result), indent=2, default=str))
    else:
        print(render(args.admin_command, result))
    return 0
