"""A payment on a real chain (anvil + TestUSDT) pays its order through the matcher and runner."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from web3 import AsyncWeb3

from app.config import Settings, load_settings
from app.db import create_engine, create_sessionmaker
from app.http import Services
from app.main import create_app
from app.models import Order, Transfer, WebhookEvent
from app.transfers.service import MatchRules
from devkit.chain.anvil import AnvilProcess, batch_transfer_tokens, transfer_tokens
from tests.conftest import settings_dict
from tests.helpers import body_bytes, checkout_url, order_body, signed_headers, user_headers
from tests.watchers.conftest import PAYER, STRANGER, WALLET
from watchers.evm import EvmSource
from watchers.runner import ChainRunner, RunnerOptions


class Recorder:
    """A publisher that keeps what would have been pushed to pages."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        self.messages.append((channel, json.loads(json.dumps(message))))


@pytest.fixture
def chain_settings(database_url: str, anvil: AnvilProcess, token: str) -> Settings:
    data = settings_dict(
        database_url,
        chains={
            "eth": {
                "rpc_urls": [anvil.http_url],
                "confirmations": 3,
                "chain_id": 31337,
                "tokens": {"USDT": {"contract": token, "decimals": 6}},
            }
        },
        merchant={"unknown_transfer_webhook_url": "https://shop.example.com/unknown"},
        orders={"match_clock_skew_seconds": 0},
    )
    data["wallets"] = [{"blockchain": "eth", "address": WALLET, "enabled_coins": ["USDT"]}]
    return load_settings(None, **data)


@pytest.fixture
async def runner(chain_settings: Settings, anvil: AnvilProcess) -> Any:
    engine = create_engine(chain_settings.database_url)
    recorder = Recorder()
    services = Services(chain_settings, engine, create_sessionmaker(engine), recorder)
    source = EvmSource.from_settings("eth", chain_settings.chains["eth"], chain_settings.wallets)
    chain_runner = ChainRunner(
        services,
        source,
        MatchRules.for_chain(chain_settings, "eth"),
        holder="test",
        options=RunnerOptions(),
    )
    yield chain_runner, recorder
    await source.close()
    await engine.dispose()


async def drain(chain_runner: ChainRunner) -> None:
    while await chain_runner.step():
        pass


async def new_payment(client: AsyncTestClient[Any], amount: str) -> tuple[str, int]:
    raw = body_bytes(order_body(amount=amount))
    order_id = (
        await client.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))
    ).json()["order_id"]
    detail = (
        await client.post(
            f"/api/v1/user/orders/{order_id}/payment",
            json={"blockchain": "eth", "stablecoin": "USDT"},
            headers=user_headers(checkout_url(order_id)),
        )
    ).json()
    return order_id, int(detail["amount_base_units"])


async def order_status(db: Any, order_id: str) -> str:
    async with db() as session:
        return str(
            await session.scalar(sa.select(Order.status).where(Order.id == uuid.UUID(order_id)))
        )


async def test_payment_detected_then_paid_at_depth(
    chain_settings: Settings, runner: Any, w3: AsyncWeb3[Any], token: str
) -> None:
    chain_runner, recorder = runner
    engine = create_engine(chain_settings.database_url)
    db = create_sessionmaker(engine)
    async with AsyncTestClient(app=create_app(chain_settings)) as client:
        await drain(chain_runner)  # seeds the cursor at the current head
        order_id, amount = await new_payment(client, "12.5")
        assert amount == 12_500_000
        await transfer_tokens(w3, token, WALLET, amount, sender=PAYER)
        await drain(chain_runner)
        detected = [m for c, m in recorder.messages if c == f"order:{order_id}"]
        assert detected and detected[-1]["order"]["status"] == "pending"
        assert detected[-1]["order"]["confirmations"] == 1
        assert detected[-1]["order"]["required_confirmations"] == 3
        assert await order_status(db, order_id) == "pending"
        await w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        await drain(chain_runner)
        assert await order_status(db, order_id) == "pending", "2 of 3 confirmations"
        await w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        await drain(chain_runner)
        assert await order_status(db, order_id) == "paid"
        assert recorder.messages[-1][1]["order"]["status"] == "paid"
        await drain(chain_runner)  # a second pass pays nothing twice
    async with db() as session:
        events = (await session.scalars(sa.select(WebhookEvent))).all()
        assert [(e.event_type, e.payload.get("status")) for e in events] == [
            ("order_status_changed", "paid")
        ]
        transfer = await session.scalar(sa.select(Transfer))
        assert transfer is not None and transfer.status == "matched" and transfer.confirmed
    await engine.dispose()


async def test_wrong_amounts_and_strangers_are_recorded_not_credited(
    chain_settings: Settings, runner: Any, w3: AsyncWeb3[Any], token: str
) -> None:
    chain_runner, _ = runner
    engine = create_engine(chain_settings.database_url)
    db = create_sessionmaker(engine)
    async with AsyncTestClient(app=create_app(chain_settings)) as client:
        await drain(chain_runner)
        order_id, amount = await new_payment(client, "3")
        await batch_transfer_tokens(
            w3,
            token,
            # Far from every deposit (outside `[payments].match_band`): nobody's payment.
            [(WALLET, amount // 2), (WALLET, amount * 2), (STRANGER, amount)],
            sender=PAYER,
        )
        for _ in range(3):
            await w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        await drain(chain_runner)
        assert await order_status(db, order_id) == "pending"
    async with db() as session:
        rows = (await session.scalars(sa.select(Transfer).order_by(Transfer.log_index))).all()
        assert [(r.amount, r.status) for r in rows] == [
            (amount // 2, "no_matched_deposit"),
            (amount * 2, "no_matched_deposit"),
        ]
        assert len({r.tx_hash for r in rows}) == 1
        unknown = (await session.scalars(sa.select(WebhookEvent))).all()
        assert sorted(e.payload["transfer_id"] for e in unknown) == sorted(r.id for r in rows)
        assert {e.payload["blockchain"] for e in unknown} == {"erc20:Ethereum"}
    await engine.dispose()
