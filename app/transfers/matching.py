"""Attribution: which reserved deposit (and so which order) a transfer belongs to.

In order, for each transfer:
1. a Solana Pay reference it carries names its deposit, whatever the amount;
2. an exact (chain, token, wallet, amount) names at most one deposit (the partial unique index);
3. otherwise the single order with reserved deposits on the same chain, token and wallet whose
   amount lies within `[payments].match_band` of the transfer (edges included). Deposits of paid
   and ended orders are candidates too (the transfer is then a repeat or a late payment of its
   own order). No candidate, or candidates of two orders: nobody (never guess).
A deposit is never credited with a transfer made before it began (`match_clock_skew_seconds`).

Batched: one statement per kind of lookup for the whole batch of transfers (the band lookup only
for the transfers that matched nothing exactly: on PostgreSQL one lateral join over the batch's
bands, on SQLite a UNION ALL of per-transfer lookups).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.arrays import among, array_param, cast, literal
from app.db import core
from app.orders.models import Order
from app.orders.rows import ORDER_COLUMNS, OrderRow
from app.payments.models import RESERVED_STATUSES, Deposit, DepositStatus
from app.payments.rows import DEPOSIT_COLUMNS, DepositRow
from app.transfers.rows import TransferRow

if TYPE_CHECKING:
    from app.transfers.service import MatchRules

log = logging.getLogger("app.transfers")

BAND_BATCH = 100
"""Transfers per UNION ALL band lookup (SQLite)."""
LATERAL_BATCH = 500
"""Transfers per lateral band lookup (PostgreSQL)."""
_RESERVED = sa.text(
    "deposits.status IN (" + ", ".join(f"'{status}'" for status in RESERVED_STATUSES) + ")"
)
"""Reserved, as constant SQL: a bound IN list would be expanded anew in each of a batch's
UNION ALL members."""
Hit = tuple[DepositRow, OrderRow]


async def attribute(
    session: AsyncSession,
    rules: MatchRules,
    transfers: Sequence[TransferRow],
    references: dict[tuple[str, int], tuple[str, ...]],
) -> dict[int, Hit]:
    """The deposit (with its order) each transfer belongs to, keyed by the transfer's id (any
    distinct integer: `ingest` attributes transfers before storing them)."""
    by_reference = await _by_reference(
        session, rules, {r for refs in references.values() for r in refs}
    )
    by_key = await _exact(session, rules, transfers)
    hits: dict[int, Hit] = {}
    inexact: list[TransferRow] = []
    for transfer in transfers:
        named = references.get((transfer.tx_hash, transfer.log_index), ())
        hit = _reference_hit(transfer, named, by_reference)
        if hit is None:
            hit = by_key.get((transfer.token, transfer.to_address.lower(), transfer.amount))
        if hit is None:
            inexact.append(transfer)
        elif _opened_in_time(rules, transfer, hit[0]):
            hits[transfer.id] = hit
    if inexact and not _is_zero(rules):
        hits.update(await _within_band(session, rules, inexact))
    return hits


def _tx(transfer: TransferRow) -> str:
    """How the logs name a transfer here: attribution runs before it is stored (no id yet)."""
    return f"{transfer.tx_hash}:{transfer.log_index}"


def _is_zero(rules: MatchRules) -> bool:
    return rules.payments.match_band.value == 0


def _opened_in_time(rules: MatchRules, transfer: TransferRow, deposit: DepositRow) -> bool:
    # Block times are whole seconds: compare against the second the deposit began.
    if transfer.block_time < deposit.started_at.replace(microsecond=0) - rules.clock_skew:
        log.info("matcher.before_deposit tx=%s deposit_id=%s", _tx(transfer), deposit.id)
        return False
    return True


async def _by_reference(
    session: AsyncSession, rules: MatchRules, references: set[str]
) -> dict[str, Hit]:
    """Reserved deposits whose Solana Pay reference is one of `references`."""
    if not references:
        return {}
    rows = (
        await (await core(session)).execute(
            _with_orders().where(
                Deposit.blockchain == rules.blockchain,
                Deposit.status.in_(RESERVED_STATUSES),
                Deposit.reference.in_(references),
            )
        )
    ).all()
    return {d.reference: (d, o) for d, o in _hits(rows) if d.reference is not None}


def _reference_hit(
    transfer: TransferRow, references: tuple[str, ...], by_reference: dict[str, Hit]
) -> Hit | None:
    """The deposit a transfer names by reference, if it is for the same token and wallet."""
    for reference in references:
        hit = by_reference.get(reference)
        if hit is not None and (hit[0].token, hit[0].wallet_address) == (
            transfer.token,
            transfer.to_address,
        ):
            return hit
    return None


async def _exact(
    session: AsyncSession, rules: MatchRules, transfers: Sequence[TransferRow]
) -> dict[tuple[str, str, int], Hit]:
    # Exact (token, wallet, amount) keys: the partial unique index answers each one directly.
    # Config validation and the sources spell addresses canonically (EIP-55, base58), so the
    # exact spelling matches; the lowercase comparison below only guards against surprises.
    # On PostgreSQL the keys are three arrays joined as a table (`unnest`): one plan whatever
    # the batch size, where a 500-tuple IN list is planned as a 500-branch OR each time.
    wanted = {(t.token, t.to_address, t.amount) for t in transfers}
    query = _with_orders().where(
        Deposit.blockchain == rules.blockchain, Deposit.status.in_(RESERVED_STATUSES)
    )
    if session.get_bind().dialect.name == "postgresql":
        tokens, wallets, amounts = zip(*wanted, strict=True)
        keys = (
            sa.func.unnest(
                array_param("k_token", "text", tokens),
                array_param("k_wallet", "text", wallets),
                array_param("k_amount", "numeric", amounts),
            )
            .table_valued("token", "wallet", "amount")
            .render_derived()
        )
        query = query.join(
            keys,
            sa.and_(
                Deposit.token == keys.c.token,
                Deposit.wallet_address == keys.c.wallet,
                Deposit.amount == keys.c.amount,
            ),
        )
    else:
        query = query.where(
            sa.tuple_(Deposit.token, Deposit.wallet_address, Deposit.amount).in_(wanted)
        )
    rows = (await (await core(session)).execute(query)).all()
    return {(d.token, d.wallet_address.lower(), d.amount): (d, o) for d, o in _hits(rows)}


def _with_orders() -> Any:
    """Reserved deposits, each with its order, as plain rows (`app.orders.rows`)."""
    return (
        sa.select(*ORDER_COLUMNS, *DEPOSIT_COLUMNS)
        .select_from(Deposit)
        .join(Order, Order.id == Deposit.order_id)
    )


_ORDER_WIDTH = len(ORDER_COLUMNS)


def _hits(rows: Iterable[Any]) -> list[Hit]:
    return [(DepositRow(*row[_ORDER_WIDTH:]), OrderRow(*row[:_ORDER_WIDTH])) for row in rows]


def _bounds(rules: MatchRules, transfer: TransferRow) -> tuple[int, int]:
    """The deposit amounts within the band of `transfer`, exactly: |t - d| <= d * p / 100 holds
    for ceil(t*100/(100+p)) <= d <= floor(t*100/(100-p)); an absolute band is t -/+ it."""
    band = rules.payments.match_band
    amount = transfer.amount
    if band.percent:
        numerator, denominator = band.value.as_integer_ratio()
        low = -(-amount * 100 * denominator // (100 * denominator + numerator))
        high = amount * 100 * denominator // (100 * denominator - numerator)
        return low, high
    spread = band.allowance(0, rules.decimals.get(transfer.token, 18))
    return max(amount - spread, 0), amount + spread


def in_band(rules: MatchRules, transfer: TransferRow, deposit: DepositRow) -> bool:
    allowed = rules.payments.match_band.allowance(deposit.amount, deposit.decimals)
    return abs(transfer.amount - deposit.amount) <= allowed


def _amount_between(dialect: str, low: int, high: int) -> Any:
    """`low <= deposits.amount <= high`, exactly, on both databases: SQLite keeps base units as
    canonical decimal text, so it compares lengths first, then the text."""
    column = Deposit.amount
    if dialect != "sqlite":
        return column.between(low, high)
    length = sa.func.length(column)
    return sa.and_(
        sa.or_(length > len(str(low)), sa.and_(length == len(str(low)), column >= low)),
        sa.or_(length < len(str(high)), sa.and_(length == len(str(high)), column <= high)),
    )


def _candidates(rules: MatchRules, dialect: str, transfer: TransferRow) -> list[Any]:
    """Where a reserved deposit could hold `transfer`: its chain, token and wallet, within the
    band, begun no later than the transfer (block times are whole seconds)."""
    return [
        Deposit.blockchain == rules.blockchain,
        _RESERVED,
        Deposit.token == transfer.token,
        Deposit.wallet_address == transfer.to_address,
        _amount_between(dialect, *_bounds(rules, transfer)),
        Deposit.started_at < transfer.block_time + rules.clock_skew + dt.timedelta(seconds=1),
    ]


async def _one_each(
    session: AsyncSession, queries: list[tuple[int, list[Any]]]
) -> dict[int, uuid.UUID]:
    """For each (key, conditions): the order of one deposit meeting them, if any. One statement:
    a UNION ALL of `LIMIT 1` lookups, so a band holding thousands of deposits costs an index probe
    per transfer, never a scan of the band."""
    if not queries:
        return {}
    parts = [
        sa.select(
            sa.select(sa.literal(key).label("k"), Deposit.order_id.label("order_id"))
            .where(*conditions)
            .limit(1)
            .subquery()
        )
        for key, conditions in queries
    ]
    statement = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    rows = await (await core(session)).execute(statement)
    return {int(k): order_id for k, order_id in rows.all()}


async def _within_band(
    session: AsyncSession, rules: MatchRules, transfers: list[TransferRow]
) -> dict[int, Hit]:
    """The single order within the band of each transfer, in two statements per batch: one
    candidate order per transfer with whether another order is a candidate too, then the
    deposits of the orders that are alone."""
    dialect = session.get_bind().dialect.name
    size = LATERAL_BATCH if dialect == "postgresql" else BAND_BATCH
    hits: dict[int, Hit] = {}
    for start in range(0, len(transfers), size):
        chunk = {t.id: t for t in transfers[start : start + size]}
        if dialect == "postgresql":
            first, other = await _band_orders_lateral(session, rules, chunk)
        else:
            first, other = await _band_orders_union(session, rules, dialect, chunk)
        for key in other:
            log.warning("matcher.ambiguous tx=%s", _tx(chunk[key]))
        alone = {key: order for key, order in first.items() if key not in other}
        if not alone:
            continue
        rows = await (await core(session)).execute(
            _with_orders().where(
                among(session, Deposit.order_id, "uuid", list(set(alone.values()))),
                Deposit.blockchain == rules.blockchain,
                Deposit.status.in_(RESERVED_STATUSES),
            )
        )
        found = _unique(_hits(rows.all()))
        by_order: dict[uuid.UUID, list[Hit]] = {}
        for hit in found:
            by_order.setdefault(hit[0].order_id, []).append(hit)
        for key, order_id in alone.items():
            transfer = chunk[key]
            candidates = [
                (d, o)
                for d, o in by_order.get(order_id, ())
                if (d.token, d.wallet_address) == (transfer.token, transfer.to_address)
                and in_band(rules, transfer, d)
                and transfer.block_time >= d.started_at.replace(microsecond=0) - rules.clock_skew
            ]
            if not candidates:
                continue
            hits[key] = min(
                candidates,
                key=lambda c: (
                    abs(c[0].amount - transfer.amount),
                    c[0].status != DepositStatus.ACTIVE,
                ),
            )
            log.info("matcher.within_band tx=%s deposit_id=%s", _tx(transfer), hits[key][0].id)
    return hits


async def _band_orders_union(
    session: AsyncSession, rules: MatchRules, dialect: str, chunk: dict[int, TransferRow]
) -> tuple[dict[int, uuid.UUID], set[int]]:
    """SQLite (no LATERAL): a candidate order per transfer, then whether another one is too, as
    two UNION ALLs of `LIMIT 1` lookups."""
    where = {key: _candidates(rules, dialect, t) for key, t in chunk.items()}
    first = await _one_each(session, list(where.items()))
    other = await _one_each(
        session,
        [(key, [*where[key], Deposit.order_id != order]) for key, order in first.items()],
    )
    return first, set(other)


_DEPOSIT_IN_BAND = (
    "d.blockchain = :chain AND d.status IN ("
    + ", ".join(f"'{status}'" for status in RESERVED_STATUSES)
    + ") AND d.token = k.token AND d.wallet_address = k.wallet"
    " AND d.amount BETWEEN k.low AND k.high AND d.started_at < k.before"
)
_BAND_SQL = " ".join(
    (
        "SELECT k.key, a.order_id, b.order_id IS NOT NULL AS other",
        f"FROM unnest({cast('keys', 'bigint')}, {cast('tokens', 'text')},",
        f"{cast('wallets', 'text')}, {cast('lows', 'numeric')}, {cast('highs', 'numeric')},",
        f"{cast('befores', 'time')}) AS k(key, token, wallet, low, high, before)",
        "JOIN LATERAL (SELECT d.order_id FROM deposits d WHERE",
        _DEPOSIT_IN_BAND,
        "LIMIT 1) a ON true",
        "LEFT JOIN LATERAL (SELECT d.order_id FROM deposits d WHERE",
        _DEPOSIT_IN_BAND,
        "AND d.order_id <> a.order_id LIMIT 1) b ON true",
    )
)
_BAND_LATERAL = (
    sa.text(_BAND_SQL)
    .bindparams(
        *(
            sa.bindparam(name, type_=sa.String())
            for name in ("keys", "tokens", "wallets", "lows", "highs", "befores")
        ),
    )
    .columns(
        sa.column("key", sa.BigInteger()),
        sa.column("order_id", sa.Uuid()),
        sa.column("other", sa.Boolean()),
    )
)
"""PostgreSQL: the batch's bands as a table (`unnest`), each probed by two `LIMIT 1` lateral
lookups on the partial unique index (a candidate order, another order): one constant statement,
planned once, whatever the batch — where a UNION ALL built per transfer cost Python time to
build and compile, and a band holding thousands of deposits still costs an index probe, never a
scan of the band. The reserved statuses are constant SQL so the partial index applies."""


async def _band_orders_lateral(
    session: AsyncSession, rules: MatchRules, chunk: dict[int, TransferRow]
) -> tuple[dict[int, uuid.UUID], set[int]]:
    keys, tokens, wallets, lows, highs, befores = [], [], [], [], [], []
    slack = rules.clock_skew + dt.timedelta(seconds=1)
    for key, transfer in chunk.items():
        low, high = _bounds(rules, transfer)
        keys.append(key)
        tokens.append(transfer.token)
        wallets.append(transfer.to_address)
        lows.append(low)
        highs.append(high)
        befores.append(transfer.block_time + slack)
    rows = await (await core(session)).execute(
        _BAND_LATERAL,
        {
            "chain": rules.blockchain,
            "keys": literal(keys, "bigint"),
            "tokens": literal(tokens, "text"),
            "wallets": literal(wallets, "text"),
            "lows": literal(lows, "numeric"),
            "highs": literal(highs, "numeric"),
            "befores": literal(befores, "time"),
        },
    )
    first: dict[int, uuid.UUID] = {}
    other: set[int] = set()
    for key, order_id, ambiguous in rows.all():
        first[int(key)] = order_id
        if ambiguous:
            other.add(int(key))
    return first, other


def _unique(rows: Iterable[Hit]) -> list[Hit]:
    seen: dict[int, Hit] = {}
    for deposit, order in rows:
        seen.setdefault(deposit.id, (deposit, order))
    return list(seen.values())
