"""`[dialects.*]` and `[webhooks].format`: a dialect's webhooks need their own strong secret."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_settings
from tests.conftest import K1, settings_dict

STRONG = "whsec_" + "Zr4Ku8Wn2Qp6Xs0Jv3Lm7Hc1Tb5Yd9Fg"


@pytest.mark.parametrize("dialect", ["opencheckout", "ovgc"])
def test_dialect_webhook_secret_rules(dialect: str) -> None:
    url = "https://shop.example/hooks"
    ok = load_settings(
        None,
        **settings_dict(
            "sqlite://", dialects={dialect: {"webhook_url": url, "webhook_secret": STRONG}}
        ),
    )
    assert getattr(ok.dialects, dialect).webhook_secret == STRONG
    with pytest.raises(ConfigError, match="webhook_secret is required"):
        load_settings(None, **settings_dict("sqlite://", dialects={dialect: {"webhook_url": url}}))
    with pytest.raises(ConfigError, match="too short"):
        load_settings(
            None,
            **settings_dict(
                "sqlite://", dialects={dialect: {"webhook_url": url, "webhook_secret": "short"}}
            ),
        )
    with pytest.raises(ConfigError, match=rf"\[dialects.{dialect}\].webhook_secret must differ"):
        load_settings(
            None,
            **settings_dict(
                "sqlite://", dialects={dialect: {"webhook_url": url, "webhook_secret": K1}}
            ),
        )


def test_webhook_format_choice() -> None:
    assert load_settings(None, **settings_dict("sqlite://")).webhooks.format == "ocrch"
    chosen = load_settings(None, **settings_dict("sqlite://", webhooks={"format": "seed002"}))
    assert chosen.webhooks.format == "seed002"
    with pytest.raises(ConfigError, match="format"):
        load_settings(None, **settings_dict("sqlite://", webhooks={"format": "stripe"}))
