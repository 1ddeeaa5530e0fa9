"""Bad input at scale: schemathesis fuzzes the OpenAPI schema of a running server.

No request without a valid signature may change anything, and nothing may answer 5xx. Input is
refused before any database work, so `make test` fuzzes the server on SQLite (half a minute) and
CI's `make test-slow` also on PostgreSQL (45 s of fuzzing).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.models import AdminAction, Deposit, Order, Transfer, WebhookEvent
from tests.conftest import ADMIN_SECRET, REPO, ServerProcess, empty_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_database_url")
    asyncio.run(empty_database(url))
    return url


async def counts(db: Any) -> dict[str, int]:
    async with db() as session:
        return {
            model.__tablename__: int(
                await session.scalar(sa.select(sa.func.count()).select_from(model))
            )
            for model in (Order, Deposit, Transfer, WebhookEvent, AdminAction)
        }


async def test_schema_fuzz_no_5xx_no_unsigned_change(
    server: ServerProcess, db: Any, database_url: str, tmp_path: Path
) -> None:
    # Seconds of fuzzing (unsigned and signed-admin runs): shorter in `make test` (SQLite).
    unsigned, signed = (15, 12) if database_url.startswith("sqlite") else (25, 20)
    before = await counts(db)
    # Verified once, the right admin secret is remembered and never meets the admin attempt
    # limits, which the first run's random secrets use up.
    async with httpx.AsyncClient(base_url=server.url) as http:
        known = await http.get(
            "/api/v1/admin/orders", headers={"Ocrch-Admin-Authorization": ADMIN_SECRET}
        )
        assert known.status_code == 200
    st = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [
            str(st),
            "run",
            f"{server.url}/schema/openapi.json",
            "--checks",
            "not_a_server_error",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-time",
            str(unsigned),
            "-n",
            "40",
            "--workers",
            "2",
            "--request-timeout",
            "10",
            "--suppress-health-check",
            "all",
            "--exclude-path-regex",
            "^/demo",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    report = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "not_a_server_error" in result.stdout or "passed" in result.stdout.lower(), report
    assert await counts(db) == before, "an unsigned request changed the database"
    admin = subprocess.run(
        [
            str(st),
            "run",
            f"{server.url}/schema/openapi.json",
            "--checks",
            "not_a_server_error",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-time",
            str(signed),
            "-n",
            "30",
            "--workers",
            "2",
            "--request-timeout",
            "10",
            "--suppress-health-check",
            "all",
            "--include-path-regex",
            "^/api/v1/admin",
            "-H",
            f"Ocrch-Admin-Authorization: {ADMIN_SECRET}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert admin.returncode == 0, admin.stdout[-4000:] + admin.stderr[-2000:]
    assert "Traceback" not in server.log(), server.log()[-3000:]
