"""The MD5 schemes against shared/epusdt.md §3's test vectors, and the tolerated variants."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.config import Settings
from app.dialects import md5sign, notify
from app.dialects.md5sign import Unsignable, epay_sign, epusdt_preimage, epusdt_sign, epusdt_verify

E1_BODY = (
    '{"order_id":"ORD20261122001","amount":72.0,"trade_type":"usdt.erc20","name":"VIP 月卡",'
    '"notify_url":"https://shop.example.com/epusdt/notify",'
    '"redirect_url":"https://shop.example.com/order/ORD20261122001","address":"","timeout":1200}'
)
E2 = {
    "trade_id": "k3Jd9QpLx2VbN7s1Ty",
    "order_id": "ORD20261122001",
    "amount": "72",
    "actual_amount": "10.01",
    "token": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "block_transaction_id": "0x9f2c4b7e1d0a6c3f8e5b2a9d7c4f1e0b3a6d9c2f5e8b1a4d7c0f3e6b9a2d5c8f",
    "status": 2,
}
P1 = {
    "pid": "1000",
    "type": "usdt.erc20",
    "out_trade_no": "EP20261122001",
    "notify_url": "https://shop.example.com/epay/notify",
    "return_url": "https://shop.example.com/epay/return",
    "name": "Test Item",
    "money": "36.00",
    "device": "pc",
    "param": "",
}


def test_e1_request_vector() -> None:
    body = json.loads(E1_BODY, parse_float=Decimal)
    assert epusdt_preimage(body) == (
        "amount=72&name=VIP 月卡&notify_url=https://shop.example.com/epusdt/notify"
        "&order_id=ORD20261122001&redirect_url=https://shop.example.com/order/ORD20261122001"
        "&timeout=1200&trade_type=usdt.erc20"
    )
    assert epusdt_sign(body, "epusdt_token_example") == "e60c52ad421a1e34de9d4c939ad7a0b6"
    body["signature"] = "E60C52AD421A1E34DE9D4C939AD7A0B6"
    assert epusdt_verify(body, "epusdt_token_example")
    assert not epusdt_verify(body, "other_token")


def test_e2_notify_vector_and_body() -> None:
    body = notify.epusdt_body(E2, "epusdt_token_example")
    sent = json.loads(body, parse_float=Decimal)
    assert sent["signature"] == "39e349d3bddcef7a9e4e8707dab3f157"
    assert b'"amount":72,' in body and sent["status"] == 2
    assert epusdt_verify(sent, "epusdt_token_example")


def test_upstream_docs_vector() -> None:
    params = {
        "amount": 42,
        "notify_url": "http://example.com/notify",
        "order_id": "20220201030210321",
        "redirect_url": "http://example.com/redirect",
    }
    assert epusdt_sign(params, "epusdt_password_xasddawqe") == "1cd4b52df5587cfb1968b0c0c6e156cd"


def test_numbers_render_without_exponent_or_trailing_zero() -> None:
    assert [md5sign.render_number(v) for v in (72.0, 1e-05, 1e6, Decimal("36.50"))] == [
        "72",
        "0.00001",
        "1000000",
        "36.5",
    ]


def test_tolerated_variants() -> None:
    """The Python SDK signs `100.0` literally; WHMCS drops zero-like members."""
    literal = {"amount": Decimal("100.0"), "order_id": "A"}
    literal["signature"] = md5sign.md5_hex("amount=100.0&order_id=A" + "t")
    assert epusdt_verify(literal, "t")
    zero = {"amount": 5, "order_id": "A", "timeout": 0}
    zero["signature"] = md5sign.md5_hex("amount=5&order_id=A" + "t")
    assert epusdt_verify(zero, "t")
    assert not epusdt_verify({"amount": 5, "signature": "0" * 32}, "t")
    with pytest.raises(Unsignable):
        epusdt_verify({"amount": [1], "signature": "x"}, "t")


def test_p1_submit_vector() -> None:
    assert epay_sign(P1, "epay_key_example") == "67ab2118f48b69a2919c5366913c891c"
    assert md5sign.epay_verify(
        {**P1, "sign": "67ab2118f48b69a2919c5366913c891c"}, "epay_key_example"
    )
    assert not md5sign.epay_verify(
        {**P1, "money": "1.00", "sign": "67ab2118f48b69a2919c5366913c891c"}, "epay_key_example"
    )


def test_p2_notify_vector_and_wire(settings: Settings) -> None:
    settings.epay.pid, settings.epay.key = "1000", "epay_key_example"
    payload = {
        "trade_no": "k3Jd9QpLx2VbN7s1Tz",
        "out_trade_no": "EP20261122001",
        "type": "usdt.erc20",
        "name": "Test Item",
        "money": "36.00",
        "trade_status": "TRADE_SUCCESS",
    }
    url = notify.epay_url(settings, "https://shop.example.com/epay/notify?x=1", payload)
    assert "&name=Test%20Item&" in url and url.endswith(
        "&sign=e822dd00055bf05770ed6a1ec5964e87&sign_type=MD5"
    )
    assert url.startswith("https://shop.example.com/epay/notify?x=1&pid=1000&")
    params = dict(parse_qsl(urlsplit(url).query))
    params.pop("x")
    assert md5sign.epay_verify(params, "epay_key_example")


def test_acknowledgements() -> None:
    assert notify.epusdt_acked(200, b" OK\n") and notify.epusdt_acked(200, b"success")
    assert not notify.epusdt_acked(200, b"fail") and not notify.epusdt_acked(201, b"ok")
    assert notify.epay_acked(200, b"SUCCESS!") and notify.epay_acked(200, b"ok")
    assert not notify.epay_acked(200, b"") and not notify.epay_acked(500, b"success")


def test_config_requires_strong_dialect_secrets(database_url: str) -> None:
    from app.config import ConfigError, load_settings
    from tests.conftest import settings_dict

    strong = "k" * 8 + "Q7x2" * 8
    loaded = load_settings(
        None,
        **settings_dict(
            database_url,
            epusdt={"enabled": True, "token": strong},
            epay={"enabled": True, "pid": "1001", "key": strong},
        ),
    )
    assert (loaded.epusdt.token, loaded.epay.pid) == (strong, "1001")
    assert not load_settings(None, **settings_dict(database_url)).epusdt.enabled
    for section in (
        {"epusdt": {"enabled": True, "token": "epusdt_token_example"}},
        {"epusdt": {"enabled": True}},
        {"epay": {"enabled": True, "key": "epay_key_example"}},
    ):
        with pytest.raises(ConfigError):
            load_settings(None, **settings_dict(database_url, **section))
