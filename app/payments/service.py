"""Deposit rules: choosing an exact, unique amount for a payment, and releasing it afterwards.

A transfer is matched to an order by (chain, token, wallet, exact amount) alone, so no two reserved
deposits may share that key. The partial unique index `uq_deposits_reserved_amount` guarantees it;
this module only proposes candidates (the order's amount, then + one step, + two steps, …, across
the wallet pool) and lets the database decide races.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.arrays import among
from app.chains import CHAINS, Blockchain, ChainFamily, Coin
from app.config import Settings
from app.db import utcnow
from app.errors import (
    AmountTooFine,
    NoFreeAmount,
    NoTestWallet,
    NoWallet,
    OrderNotFound,
    OrderNotPending,
)
from app.money import Amount, AmountError, format_base_units
from app.orders.events import OrderStatusChanged
from app.orders.models import Order, OrderStatus
from app.orders.receipts import amount_at_received_scale
from app.orders.rows import OrderView
from app.payments.accounting import remainder_in_coin
from app.payments.models import RESERVED_STATUSES, Deposit, DepositStatus
from app.payments.quotes import (
    QUOTED_DISPLAY_DECIMALS,
    base_units_for,
    copy_quote,
    quote_expired,
    quote_view,
    stamp,
)
from app.payments.rows import DepositView
from app.payments.schemas import ChainCoinPair, PaymentDetail
from app.rates.book import RateBook
from app.sessions.testmode import is_test_order
from app.tokens import PaymentOption, find_option, payment_options

CANDIDATES_PER_QUERY = 64


def list_pairs(settings: Settings, *, test: bool = False) -> list[ChainCoinPair]:
    return [
        ChainCoinPair(blockchain=o.blockchain, stablecoin=o.coin, wallet_address=o.wallets[0])
        for o in payment_options(settings, test=test)
    ]


async def create_payment(
    session: AsyncSession,
    settings: Settings,
    order_id: uuid.UUID,
    blockchain: Blockchain,
    coin: Coin,
    rates: RateBook | None = None,
) -> PaymentDetail:
    """Reserve (or return the already reserved) exact amount for paying `order_id` on a pair.

    A fiat order is quoted here; once its quote is past `quote_ttl_seconds` the shopper gets a
    fresh one (a new deposit), while the old deposit stays reserved so its amount still pays.
    """
    order = await session.get(Order, order_id)
    if order is None:
        raise OrderNotFound
    if order.status != OrderStatus.PENDING:
        raise OrderNotPending
    test = await is_test_order(session, order.id)
    option = find_option(settings, blockchain, coin, test=test)
    if option is None:
        pair = f"{coin}.{blockchain}"
        raise NoTestWallet(pair) if test else NoWallet(pair)
    existing = await session.scalar(
        sa.select(Deposit)
        .where(
            Deposit.order_id == order.id,
            Deposit.blockchain == blockchain,
            Deposit.token == coin,
            Deposit.status == DepositStatus.ACTIVE,
        )
        .order_by(Deposit.id.desc())
        .limit(1)
    )
    if existing is not None and quote_expired(existing, utcnow()):
        existing = None
    due = None
    if order.amount_received:
        due = max(0, amount_at_received_scale(order.amount) - order.amount_received)
    deposit = existing or await _reserve(session, settings, order, option, rates, due=due)
    return payment_detail(order, deposit, option)


async def _reserve(
    session: AsyncSession,
    settings: Settings,
    order: OrderView,
    option: PaymentOption,
    rates: RateBook | None = None,
    *,
    due: int | None = None,
    quote_from: DepositView | None = None,
) -> Deposit:
    """Reserve a unique amount for `order` on `option`: its whole amount, or what is `due` (order
    units at the received scale) of a partly paid order. `quote_from`: a remainder deposit keeps
    the rate of the deposit that was partly paid, instead of a fresh quote."""
    decimals = option.token.decimals
    try:
        if quote_from is not None:
            base, quote = 0, None
        else:
            base, quote = base_units_for(order, option.coin, decimals, rates)
        step = Amount.parse(str(settings.orders.amount_step)).to_base_units(decimals)
    except AmountError:
        raise AmountTooFine(str(option.coin)) from None
    priced = Deposit(token=option.coin, decimals=decimals)
    if quote_from is not None:
        copy_quote(quote_from, priced)
    elif quote is not None:
        stamp(priced, quote)
    if due is not None:
        base = remainder_in_coin(order, priced, due)
    step = max(step, 1)
    reserved_until = order.expires_at + dt.timedelta(
        seconds=settings.orders.late_payment_window_seconds
    )
    tried: set[tuple[str, int]] = set()
    max_tries = settings.orders.amount_step_max_tries
    for first in range(0, max_tries, CANDIDATES_PER_QUERY):
        amounts = [
            base + step * i for i in range(first, min(first + CANDIDATES_PER_QUERY, max_tries))
        ]
        for wallet, amount in await _free_candidates(session, option, amounts):
            if (wallet, amount) in tried:
                continue
            tried.add((wallet, amount))
            deposit = Deposit(
                reference=new_reference() if _is_solana(option) else None,
                order_id=order.id,
                blockchain=option.blockchain,
                token=option.coin,
                wallet_address=wallet,
                amount=amount,
                decimals=decimals,
                status=DepositStatus.ACTIVE,
                started_at=utcnow(),
                reserved_until=reserved_until,
            )
            copy_quote(priced, deposit)
            try:
                async with session.begin_nested():
                    session.add(deposit)
                    await session.flush()
            except IntegrityError:
                continue  # another checkout took it first; try the next candidate
            return deposit
    raise NoFreeAmount(str(option.coin), str(option.blockchain))


async def reserve_remainder(
    session: AsyncSession, settings: Settings, order: OrderView, paid: DepositView, due: int
) -> Deposit | None:
    """A partly paid order's next deposit: what is `due`, on the chain, coin and wallet pool of
    the deposit `paid` (at its locked rate), with a fresh unique amount. The order's other open
    deposits stop being offered (they stay reserved, so a transfer to them is still the order's).
    None when no wallet pool holds that wallet any more (the order stays partly paid)."""
    option = _pool_of(settings, paid)
    await session.execute(
        sa.update(Deposit)
        .where(Deposit.order_id == order.id, Deposit.status == DepositStatus.ACTIVE)
        .values(status=DepositStatus.LINGERING)
        .execution_options(synchronize_session=False)
    )
    if option is None:
        return None
    return await _reserve(session, settings, order, option, due=due, quote_from=paid)


def _pool_of(settings: Settings, deposit: DepositView) -> PaymentOption | None:
    for test in (False, True):
        option = find_option(
            settings, Blockchain(deposit.blockchain), Coin(deposit.token), test=test
        )
        if option is not None and deposit.wallet_address in option.wallets:
            return option
    return None


async def _free_candidates(
    session: AsyncSession, option: PaymentOption, amounts: list[int]
) -> list[tuple[str, int]]:
    """(wallet, amount) pairs not reserved right now, in preference order: smallest step first."""
    taken = set(
        (
            await session.execute(
                sa.select(Deposit.wallet_address, Deposit.amount).where(
                    Deposit.blockchain == option.blockchain,
                    Deposit.token == option.coin,
                    Deposit.wallet_address.in_(option.wallets),
                    Deposit.amount.in_(amounts),
                    Deposit.status.in_(RESERVED_STATUSES),
                )
            )
        ).all()
    )
    return [(w, a) for a in amounts for w in option.wallets if (w, a) not in taken]


def display_amount(order: OrderView, units: int, decimals: int) -> str:
    """The deposit amount in coin units, as short as possible but never shorter than the order's
    (a fiat order's quote: cents)."""
    text = format_base_units(units, decimals)
    if "." not in text:
        return text
    whole, frac = text.split(".")
    shortest = order.amount_scale if order.currency is None else QUOTED_DISPLAY_DECIMALS
    keep = max(len(frac.rstrip("0")), min(shortest, decimals))
    return f"{whole}.{frac[:keep]}" if keep else whole


def _is_solana(option: PaymentOption) -> bool:
    return CHAINS[option.blockchain].family is ChainFamily.SOLANA


def new_reference() -> str:
    """A fresh Solana Pay reference: a random public key no transaction has carried before."""
    from solders.keypair import Keypair

    return str(Keypair().pubkey())


def payment_uri(
    option: PaymentOption, wallet: str, units: int, decimals: int, reference: str | None = None
) -> str:
    """EIP-681 for EVM chains; a `tron:` link with the token and amount for TRON; a Solana Pay
    transfer request (`solana:<owner>?amount=…&spl-token=<mint>&reference=…`) for Solana."""
    if _is_solana(option):
        amount = format_base_units(units, decimals)
        if "." in amount:
            amount = amount.rstrip("0").rstrip(".")
        uri = f"solana:{wallet}?amount={amount}&spl-token={option.token.contract}"
        return uri + (f"&reference={reference}" if reference else "")
    if CHAINS[option.blockchain].family is ChainFamily.EVM:
        chain = f"@{option.chain_id}" if option.chain_id else ""
        return f"ethereum:{option.token.contract}{chain}/transfer?address={wallet}&uint256={units}"
    return (
        f"tron:{wallet}?token={option.token.contract}&amount={format_base_units(units, decimals)}"
    )


def payment_detail(order: OrderView, deposit: Deposit, option: PaymentOption) -> PaymentDetail:
    return PaymentDetail(
        order_id=order.id,
        wallet_address=deposit.wallet_address,
        amount=display_amount(order, deposit.amount, deposit.decimals),
        blockchain=option.blockchain,
        stablecoin=option.coin,
        amount_base_units=str(deposit.amount),
        decimals=deposit.decimals,
        token_contract=option.token.contract,
        chain_id=option.chain_id,
        expires_at=int(order.expires_at.timestamp()),
        payment_uri=payment_uri(
            option, deposit.wallet_address, deposit.amount, deposit.decimals, deposit.reference
        ),
        reference=deposit.reference,
        quote=quote_view(deposit),
    )


async def on_order_ended(session: AsyncSession, changes: Sequence[OrderStatusChanged]) -> None:
    """Subscriber of the lifecycle's events: an order that left `pending` stops offering its
    deposits (every target status is terminal)."""
    await close_order_deposits(session, [change.order for change in changes])


async def close_order_deposits(session: AsyncSession, orders: Sequence[OrderView]) -> None:
    """Stop offering ended orders' deposits (one statement, however many orders).

    Paid, expired or cancelled alike: the deposits still open linger, reserved until
    `reserved_until` (the matched one stays `matched`, also reserved), so a late or repeat payment
    is linked to its own order and never credited to another order given the same amount.
    """
    ids = [o.id for o in orders]
    if ids:
        await session.execute(
            sa.update(Deposit)
            .where(
                among(session, Deposit.order_id, "uuid", ids),
                Deposit.status == DepositStatus.ACTIVE,
            )
            .values(status=DepositStatus.LINGERING)
            .execution_options(synchronize_session=False)
        )


async def release_lapsed_reservations(session: AsyncSession) -> int:
    """Free the amounts of ended orders (paid ones too) whose late-payment window has passed."""
    result = await session.execute(
        sa.update(Deposit)
        .where(
            Deposit.status.in_((DepositStatus.LINGERING, DepositStatus.MATCHED)),
            Deposit.reserved_until <= utcnow(),
        )
        .values(status=DepositStatus.RELEASED)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
