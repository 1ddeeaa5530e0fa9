"""Through a real `stablecheckout serve` process on both databases: 40 concurrent creates with one
`Idempotency-Key` make exactly one session (and one order), and every caller gets its answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.conftest import ServerProcess, start_server, write_config
from tests.sessions.conftest import Keys, cart_body, counts, create, session_settings_dict


@pytest.fixture
def session_server(session_settings: Settings, tmp_path: Path) -> Iterator[ServerProcess]:
    data = session_settings_dict(session_settings.database_url)
    config = write_config(tmp_path / "config.toml", data)
    server = start_server(config, session_settings.database_url, tmp_path / "serve.log")
    yield server
    server.stop()


async def test_concurrent_creates_with_one_key_make_one_session(
    session_server: ServerProcess, api_keys: Keys, sdb: Any
) -> None:
    before = await counts(sdb)
    async with httpx.AsyncClient(base_url=session_server.url, timeout=30) as client:
        answers = await asyncio.gather(
            *(
                create(client, api_keys.test, cart_body(), **{"Idempotency-Key": "race-1"})
                for _ in range(40)
            )
        )
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 39
    after = await counts(sdb)
    assert after["checkout_sessions"] == before["checkout_sessions"] + 1
    assert after["orders"] == before["orders"] + 1
    assert "Traceback" not in session_server.log()
