"""The TypeScript SDK: built with tsc from npm, then its own suite (`node --test`) run against the
real stack of this module — serve, anvil, a `whsec_` session secret and a test API key — handed
over in STABLECHECKOUT_* variables. The node suites run the full loops themselves (create, pay on
anvil, webhook verified by the SDK: our APIs' formats and every dialect's, the seed 002 callback
from the stack's second server) and receive webhooks on the port the server was told."""

from __future__ import annotations

import asyncio
import os
import re
import shutil

import pytest

from tests.conftest import REPO, unavailable
from tests.sdk.conftest import (
    EPAY_KEY,
    EPAY_PID,
    EPUSDT_TOKEN,
    OPENCHECKOUT_SECRET,
    OVGC_SECRET,
    SESSION_SECRET,
)
from tests.stack import Stack
from tests.watchers.conftest import PAYER

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

SDK = REPO / "sdk" / "js"
TSC = REPO / "node_modules" / ".bin" / "tsc"


async def run(*command: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=SDK,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return int(process.returncode or 0), output.decode(errors="replace")


async def test_js_sdk_suite_against_a_real_server(stack: Stack) -> None:
    node = shutil.which("node")
    if node is None or not TSC.exists():
        unavailable("node or node_modules/.bin/tsc missing (make install runs npm ci)")
        return
    code, output = await run(str(TSC), "-p", ".")
    assert code == 0, f"tsc failed:\n{output}"
    _, version = await run(node, "--version")
    major = int(re.match(r"v(\d+)", version.strip()).group(1))  # type: ignore[union-attr]
    # Node 20 and 21 have WebSocket behind a flag; 22+ by default. Node 18 exercises polling.
    flags = ["--experimental-websocket"] if major in (20, 21) else []
    stack.hooks.stop()  # the node suites listen on this port: the server's configured webhook URLs
    env = {
        "STABLECHECKOUT_URL": stack.server.url,
        "STABLECHECKOUT_SEED002_URL": stack.servers["seed002"].url,
        "STABLECHECKOUT_SECRET": stack.merchant_secret,
        "STABLECHECKOUT_WEBHOOK_SECRET": SESSION_SECRET,
        "STABLECHECKOUT_OPENCHECKOUT_SECRET": OPENCHECKOUT_SECRET,
        "STABLECHECKOUT_OVGC_SECRET": OVGC_SECRET,
        "STABLECHECKOUT_EPUSDT_TOKEN": EPUSDT_TOKEN,
        "STABLECHECKOUT_EPAY_KEY": EPAY_KEY,
        "STABLECHECKOUT_EPAY_PID": EPAY_PID,
        "STABLECHECKOUT_API_KEY": stack.api_key,
        "STABLECHECKOUT_ANVIL_URL": stack.anvil.http_url,
        "STABLECHECKOUT_TOKEN": stack.token,
        "STABLECHECKOUT_PAYER": PAYER,
        "STABLECHECKOUT_HOOK_PORT": str(stack.hooks.port),
    }
    passed = 0
    # One file at a time: the integration files each listen on the hook port.
    for path in sorted((SDK / "test").glob("*.test.mjs")):
        code, output = await run(node, *flags, "--test", "--test-reporter=tap", str(path), env=env)
        log = stack.server.log()[-4000:]
        assert code == 0, f"node --test {path.name} failed:\n{output}\n--- serve log:\n{log}"
        count = re.search(r"(?m)^# pass (\d+)$", output)
        assert count and re.search(r"(?m)^# skipped 0$", output), output
        passed += int(count.group(1))
    assert passed >= 29, passed  # the unit tests, the three loops of our APIs, the five dialects
