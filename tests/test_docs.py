"""The README's curl-free example really works against a running server."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, ServerProcess


def test_create_order_example(server: ServerProcess) -> None:
    config = server.log_path.parent / "config.toml"
    result = subprocess.run(
        [sys.executable, "docs/examples/create_order.py", server.url, str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    created, status = (json.loads(line.split(":", 1)[1]) for line in result.stdout.splitlines())
    assert created["status"] == "pending" and created["amount"] == "19.99"
    assert status == created
