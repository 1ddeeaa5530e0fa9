"""The verifier snippets of docs/checkout-sessions.md, run as written against bodies and signatures
made by the sender's own code, and the doc's errors table against the error types we send."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from app.config import load_settings
from app.sessions import signing
from app.webhooks.sender import Claimed, signed_body
from tests.conftest import K1, REPO, settings_dict, unavailable

DOC = (REPO / "docs" / "checkout-sessions.md").read_text()
SECRET = "whsec_Dc5Pw9Lk3Xq7Zn1Hs4Mv8Rt2Jb6Yf0Ga"
EVENT = {
    "id": "evt_0190f5c27b1e7c3a9d4e2f6a8b0c1d2e",
    "object": "event",
    "type": "checkout.session.completed",
    "created": 1795394311,
    "livemode": False,
    "data": {"object": {"id": "cs_test_x", "status": "complete", "metadata": {"note": "ünïcode"}}},
}


def snippet(language: str) -> str:
    match = re.search(rf"<!-- verifier:{language} -->\n```{language}\n(.*?)```", DOC, re.S)
    assert match, language
    return match.group(1)


def signed(ts: int) -> tuple[bytes, str]:
    settings = load_settings(
        None, **settings_dict("sqlite://", checkout_sessions={"webhook_secret": SECRET})
    )
    item = Claimed(
        id=uuid.uuid4(),
        attempt=1,
        target_url="https://shop.example/hook",
        payload=EVENT,
        created_at=dt.datetime.now(dt.UTC),
        event_type=str(EVENT["type"]),
    )
    body, headers = signed_body(settings, item, ts)
    return body, headers[signing.HEADER]


def test_python_verifier() -> None:
    scope: dict[str, Any] = {}
    exec(snippet("python"), scope)  # noqa: S102 - the documented code, run as written
    verify = scope["verify"]
    body, header = signed(int(time.time()))
    assert verify(SECRET, header, body)
    assert verify(SECRET, f"{header},v1={'0' * 64}", body), "any v1 may match"
    assert not verify("another secret", header, body)
    assert not verify(K1, header, body), "session events are not signed with the merchant secret"
    assert not verify(SECRET, header, body + b" ")
    assert not verify(SECRET, header.replace("v1=", "v1=0"), body)
    assert not verify(SECRET, "garbage", body) and not verify(SECRET, "", body)
    assert not verify(SECRET, "t=1,v1=é", body)
    old_body, old_header = signed(int(time.time()) - 301)
    assert not verify(SECRET, old_header, old_body)


def test_javascript_verifier(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
    module = tmp_path / "verify.mjs"
    module.write_text(
        snippet("js")
        + """
const [secret, header, body] = process.argv.slice(2);
console.log(verify(secret, header, Buffer.from(body, "utf8")) ? "ok" : "bad");
"""
    )

    def run(header: str, body: bytes, secret: str = SECRET) -> str:
        return subprocess.run(
            [str(node), str(module), secret, header, body.decode()],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()

    body, header = signed(int(time.time()))
    assert run(header, body) == "ok"
    assert run(header, body, "another secret") == "bad"
    assert run(header, body + b" ") == "bad"
    assert run("t=1,v1=abc", body) == "bad"
    old_body, old_header = signed(int(time.time()) - 301)
    assert run(old_header, old_body) == "bad"


def test_errors_table_names_every_type_we_send() -> None:
    table = DOC.split("### Errors", 1)[1].split("## Webhooks", 1)[0]
    for status, kind in (
        ("400", "invalid_request_error"),
        ("401", "authentication_error"),
        ("404", "not_found"),
        ("409", "invalid_request_error"),
        ("429", "rate_limit_error"),
        ("500", "api_error"),
    ):
        assert re.search(rf"\| {status} \| `{kind}` \|", table), (status, kind)
