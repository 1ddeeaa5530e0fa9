"""Weak and placeholder secrets do not load; `gen-secret` makes strong ones (issue 14, item 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.config import ConfigError, load_settings
from app.secret_policy import MIN_MERCHANT_SECRET, new_secret
from app.security.admin_auth import hash_secret
from tests.conftest import ADMIN_SECRET, K1, REPO, free_port, settings_dict, write_config
from tests.in_process_cli import run_cli as in_process
from tests.test_config import OCRCH_EXAMPLE

HOOK = "whsec_" + "Q" * 40


def load(**sections: Any) -> Any:
    return load_settings(None, **settings_dict("sqlite+aiosqlite:///x.db", **sections))


@pytest.mark.parametrize(
    ("sections", "key", "words"),
    [
        ({"merchant": {"secret": "shop"}}, "merchant.secret", "too short (4 characters"),
        ({"merchant": {"secret": "x" * 31}}, "merchant.secret", "at least 32"),
        (
            {"merchant": {"secret": "replace-with-a-long-random-merchant-secret"}},
            "merchant.secret",
            "placeholder",
        ),
        ({"merchant": {"secret": "test-merchant-secret"}}, "merchant.secret", "placeholder"),
        ({"admin": {"secret": "short-admin"}}, "admin.secret", "at least 16"),
        ({"admin": {"secret": "change-me-to-a-secure-password"}}, "admin.secret", "placeholder"),
        (
            {"checkout_sessions": {"webhook_url": "https://shop.example/h"}},
            "checkout_sessions",
            "webhook_secret is required when webhook_url is set",
        ),
        (
            {"checkout_sessions": {"webhook_secret": "whsec_short"}},
            "checkout_sessions.webhook_secret",
            "at least 32",
        ),
        ({"checkout_sessions": {"webhook_secret": K1}}, "(root)", "must differ from [merchant]"),
    ],
)
def test_weak_secrets_are_refused_with_a_way_out(
    sections: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(**sections)
    message = str(info.value)
    assert f"  {key}: " in message and words in message
    assert "stablecheckout gen-secret" in message


def test_strong_secrets_and_an_argon2_hash_load() -> None:
    settings = load(
        admin={"secret": hash_secret("pw")},  # a hash cannot be measured: taken as it is
        checkout_sessions={"webhook_url": "https://shop.example/h", "webhook_secret": HOOK},
    )
    assert settings.merchant.secret == K1 and settings.checkout_sessions.webhook_secret == HOOK
    assert len(K1) >= MIN_MERCHANT_SECRET and len(ADMIN_SECRET) >= 16


def test_environment_secret_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLECHECKOUT_MERCHANT__SECRET", "shop")
    with pytest.raises(ConfigError, match=r"merchant\.secret: is too short"):
        load()


def test_ocrch_docs_example_is_refused(tmp_path: Path) -> None:
    """Ocrch's documented file loads unchanged except for its two public placeholder secrets."""
    path = tmp_path / "ocrch.toml"
    path.write_text(OCRCH_EXAMPLE)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    lines = str(info.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == ["admin.secret", "merchant.secret"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_gen_secret_prints_fresh_strong_secrets() -> None:
    first, second = in_process("gen-secret"), in_process("gen-secret")
    hook = in_process("gen-secret", "--webhook")
    assert first.returncode == second.returncode == hook.returncode == 0
    a, b, h = first.stdout.strip(), second.stdout.strip(), hook.stdout.strip()
    assert a != b and len(a) >= MIN_MERCHANT_SECRET and "\n" not in a
    assert h.startswith("whsec_") and len(h) >= 32
    load(merchant={"secret": a}, admin={"secret": b}, checkout_sessions={"webhook_secret": h})


def test_serve_refuses_to_start_with_a_weak_secret(tmp_path: Path) -> None:
    data = settings_dict(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    data["merchant"]["secret"] = "shop"
    config = write_config(tmp_path / "config.toml", data)
    result = run_cli("serve", "-c", str(config), "--listen", f"127.0.0.1:{free_port()}")
    assert result.returncode != 0
    assert "merchant.secret: is too short" in result.stderr
    assert "stablecheckout gen-secret" in result.stderr


def test_new_secret_is_url_safe() -> None:
    for _ in range(50):
        secret = new_secret()
        assert len(secret) == 43 and secret.replace("-", "").replace("_", "").isalnum()
