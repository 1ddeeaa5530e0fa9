"""The refund claim link, through the app on both databases: a signed link opens the item's page,
the shopper's address is checked (checksum, not ours, not the contract), confirmed, and claimed
once; a tampered, foreign or expired link opens nothing, and a claimed link stays harmless."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from eth_utils.address import to_checksum_address
from litestar.testing import AsyncTestClient

from app.config import Settings, load_settings
from app.models import RefundItem
from app.refunds import claims
from app.refunds.models import RefundKind
from tests.conftest import TEST_WALLET_ETH, TEST_WALLET_TRON, settings_dict
from tests.refunds.conftest import SENDER_ETH, seed_refund, tron_address

SHOPPER = to_checksum_address("0x" + "ab12" * 10)
"""The shopper's own address, EIP-55 checksummed."""


def _bad_checksum(address: str) -> str:
    """The same address with one letter's case flipped: its EIP-55 checksum no longer holds."""
    i = next(i for i, c in enumerate(address) if i > 1 and c.isalpha())
    return address[:i] + address[i].swapcase() + address[i + 1 :]


async def _item(db: Any, item_id: int) -> RefundItem:
    async with db() as session:
        item = await session.get(RefundItem, item_id)
        assert item is not None
        session.expunge(item)
        return item


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def _link(db: Any, settings: Settings, item_id: int, now: float | None = None) -> str:
    item = await _item(db, item_id)
    return _path(claims.make_link(settings, item, "http://testserver.local", now).url)


async def test_claim_flow_checks_the_address_confirms_and_claims_once(
    client: AsyncTestClient[Any], db: Any, settings: Settings
) -> None:
    seeded = await seed_refund(db, amount=1_500_000)
    link = await _link(db, settings, seeded.item_id)

    page = await client.get(link)
    assert page.status_code == 200, page.text
    assert 'data-testid="refund-amount">1.500000 USDT<' in page.text
    assert SENDER_ETH in page.text, "the sender is shown, for information"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    refusals = {
        SHOPPER.lower(): "checksum",
        _bad_checksum(SHOPPER): "checksum does not match",
        "0x1234": "not a valid address",
        TEST_WALLET_ETH: "own wallet",
        "0xdAC17F958D2ee523a2206206994597C13D831ec7": "token contract",
        "0x0000000000000000000000000000000000000000": "zero address",
        "": "Enter the address",
    }
    for entered, reason in refusals.items():
        answer = await client.post(link, data={"address": entered})
        assert answer.status_code == 400, (entered, answer.text)
        assert 'data-testid="address-error"' in answer.text and reason in answer.text, entered
    assert (await _item(db, seeded.item_id)).status == "open"

    confirm = await client.post(link, data={"address": f"  {SHOPPER} "})
    assert confirm.status_code == 200
    assert f'data-testid="refund-confirm-address">{SHOPPER}<' in confirm.text
    assert (await _item(db, seeded.item_id)).status == "open", "nothing claimed before confirming"

    edit = await client.post(link, data={"address": SHOPPER, "edit": "yes"})
    assert edit.status_code == 200 and f'value="{SHOPPER}"' in edit.text

    done = await client.post(link, data={"address": SHOPPER, "confirm": "yes"})
    assert done.status_code == 200, done.text
    assert "Thank you." in done.text and SHOPPER in done.text
    item = await _item(db, seeded.item_id)
    assert (item.status, item.claim_address) == ("claimed", SHOPPER)
    assert item.claimed_at is not None

    # The link cannot claim again, nor change the address: it only says what became of it.
    other = to_checksum_address("0x" + "cd34" * 10)
    again = await client.post(link, data={"address": other, "confirm": "yes"})
    assert again.status_code == 409 and "already been claimed" in again.text
    reopened = await client.get(link)
    assert reopened.status_code == 200 and "already been claimed" in reopened.text
    assert 'name="address"' not in reopened.text, "no form on a claimed item"
    assert (await _item(db, seeded.item_id)).claim_address == SHOPPER


async def test_tampered_foreign_and_expired_links_open_nothing(
    client: AsyncTestClient[Any], db: Any, settings: Settings
) -> None:
    first = await seed_refund(db)
    second = await seed_refund(db)
    link = await _link(db, settings, first.item_id)
    path, query = link.split("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    sig, exp = params["sig"], params["exp"]
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    forged = [
        f"{path}?exp={exp}&sig={flipped}",
        f"{path}?exp={int(exp) + 86400}&sig={sig}",  # a longer life is not signed
        f"{path}?exp={exp}",
        f"{path}?sig={sig}",
        f"/refunds/claim/{second.item_id}?exp={exp}&sig={sig}",  # another item's link
        f"/refunds/claim/999999?exp={exp}&sig={sig}",
        f"/refunds/claim/x1?exp={exp}&sig={sig}",
        f"{path}?exp={exp}&sig={sig}{'A' * 80}",
    ]
    for url in forged:
        page = await client.get(url)
        assert page.status_code in (400, 404), (url, page.status_code)
        if page.status_code == 404:
            assert "not valid" in page.text
        posted = await client.post(url, data={"address": SHOPPER, "confirm": "yes"})
        assert posted.status_code in (400, 404), url

    # A link signed with another merchant secret is not ours.
    data = settings_dict(settings.database_url)
    data["merchant"]["secret"] = "Zq8vN2xLr5Zs9Wk3Jd7Hb1Mf4Pc6Ye0GaRx"
    stranger = load_settings(None, **data)
    assert (await client.get(await _link(db, stranger, first.item_id))).status_code == 404

    # Expired: made 31 days ago with the default 30-day life.
    old = await _link(db, settings, first.item_id, now=time.time() - 31 * 86400)
    expired = await client.get(old)
    assert expired.status_code == 410 and "expired" in expired.text
    late = await client.post(old, data={"address": SHOPPER, "confirm": "yes"})
    assert late.status_code == 410
    for seeded in (first, second):
        item = await _item(db, seeded.item_id)
        assert (item.status, item.claim_address) == ("open", None)


async def test_tron_claim_takes_base58check_only(
    client: AsyncTestClient[Any], db: Any, settings: Settings
) -> None:
    seeded = await seed_refund(
        db,
        kind=RefundKind.DUPLICATE,
        blockchain="tron",
        wallet=TEST_WALLET_TRON,
        sender=tron_address(b"exchange"),
        amount=25_000_000,
    )
    link = await _link(db, settings, seeded.item_id)
    page = await client.get(link)
    assert "25.000000 USDT" in page.text and "TRON" in page.text
    good = tron_address(b"shopper")
    typo = good[:-1] + ("A" if good[-1] != "A" else "B")
    for entered, reason in {
        typo: "not a valid TRON address",
        TEST_WALLET_TRON: "own wallet",
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t": "token contract",
        SHOPPER: "not a valid TRON address",
    }.items():
        answer = await client.post(link, data={"address": entered, "confirm": "yes"})
        assert answer.status_code == 400 and reason in answer.text, entered
    done = await client.post(link, data={"address": good, "confirm": "yes"})
    assert done.status_code == 200
    async with db() as session:
        row = (await session.execute(sa.select(RefundItem.status, RefundItem.claim_address))).one()
    assert tuple(row) == ("claimed", good)
