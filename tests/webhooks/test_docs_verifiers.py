"""The verifier snippets in docs/webhooks.md, run as written against a real signed body."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from app.security.signatures import sign_body
from app.webhooks.sender import request_body
from tests.conftest import K1, REPO, unavailable

DOC = (REPO / "docs" / "webhooks.md").read_text()
SECRET = K1
PAYLOAD = {
    "event_type": "order_status_changed",
    "order_id": "0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e",
    "merchant_order_id": "ord_123",
    "status": "paid",
    "amount": "19.99",
}


def snippet(language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", DOC, re.S)
    assert match, language
    return match.group(1)


def signed(ts: int) -> tuple[bytes, str]:
    body = request_body(PAYLOAD, ts)
    return body, sign_body(SECRET, body, ts)


def test_python_snippet() -> None:
    scope: dict[str, Any] = {}
    exec(snippet("python"), scope)  # noqa: S102 - the documented code, run as written
    body, header = signed(int(time.time()))
    assert scope["verify"](SECRET, header, body)
    assert scope["verify"](SECRET, header + "=", body), "padded form accepted"
    assert not scope["verify"](SECRET, header, body + b" ")
    old_body, old_header = signed(int(time.time()) - 301)
    assert not scope["verify"](SECRET, old_header, old_body)


def test_javascript_snippet(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
    module = tmp_path / "verify.mjs"
    module.write_text(
        snippet("js")
        + """
const [secret, header, body] = process.argv.slice(2);
console.log(verify(secret, header, Buffer.from(body)) ? "ok" : "bad");
"""
    )
    body, header = signed(int(time.time()))

    def run(h: str, b: bytes) -> str:
        return subprocess.run(
            [str(node), str(module), SECRET, h, b.decode()],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()

    assert run(header, body) == "ok"
    assert run(header, body + b" ") == "bad"
    assert run(header.replace(".", ".A", 1), body) == "bad"


@pytest.mark.parametrize("language", ["python", "js"])
def test_snippets_exist(language: str) -> None:
    assert "verify" in snippet(language)
