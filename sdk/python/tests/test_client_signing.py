"""The signature test vectors of the Ocrch wire contract (shared/api.md section 8)."""

from __future__ import annotations

import pytest

from stablecheckout_client import checkout_link, sign_body, sign_url
from stablecheckout_client.signing import (
    parse_ocrch_header,
    sign_session_webhook,
    verify_body_signature,
    verify_session_signature,
    verify_url_signature,
)

K1 = "test-merchant-secret"
K2 = "s3cr3t-KEY-#2"
OID = "0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e"
S1_BODY = (
    b'{"amount":"19.99","expecting_wallet_address":null,"order_id":"ord_123","blockchain":null,'
    b'"stablecoin":null,"webhook_url":"https://shop.example.com/webhooks/ocrch"}'
)
S1 = "1711900800.TZ/iv6V357Mmg6M0UqW2H1s5uyfOrPqoGASV35zEAE0"
S2_BODY = b'{"order_id":"0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e"}'
S2 = "1735689600.v2kIZv3oiskOb1HiEnlktZSvxYrJ0vSTyY9TZ5S/f94"
U1_URL = f"https://checkout.example.com/pay?order_id={OID}"
U1 = "1711900800.aN1ACklfLN73eiQ3RjOuPee+23g1lBVXFlBiu/R7wFY"
U2_URL = "http://localhost:3000/checkout?order=abc&lang=en"
U2 = "1735689600.e2OKbYw+F3ZvMGYuTPZRzU/9m2Cx5LhLBohvSJr8CZM"


def test_body_vectors() -> None:
    assert sign_body(K1, S1_BODY, 1711900800) == S1
    assert sign_body(K2, S2_BODY, 1735689600) == S2


def test_url_vectors() -> None:
    assert sign_url(K1, U1_URL, 1711900800) == U1
    assert sign_url(K2, U2_URL, 1735689600) == U2
    assert verify_url_signature(K1, U1_URL, U1, now=1711900800) == 1711900800
    with pytest.raises(ValueError, match="mismatch"):
        verify_url_signature(K2, U1_URL, U1, now=1711900800)


def test_freshness_window_is_300_seconds() -> None:
    assert verify_body_signature(K1, S1, S1_BODY, now=1711901100) == 1711900800
    with pytest.raises(ValueError, match="tolerance"):
        verify_body_signature(K1, S1, S1_BODY, now=1711901101)
    with pytest.raises(ValueError, match="tolerance"):
        verify_body_signature(K1, S1, S1_BODY, now=1711900000)  # dated far ahead


def test_negatives() -> None:
    with pytest.raises(ValueError, match="mismatch"):
        verify_body_signature(K1, S1, S1_BODY + b" ", now=1711900800)
    assert verify_body_signature(K1, S1 + "=", S1_BODY, now=1711900800) == 1711900800
    for bad in (
        "1711900800",
        "abc.TZ/iv6",
        "1711900800.TZ_iv6V357Mmg6M0UqW2H1s5uyfOrPqoGASV35zEAE0",
    ):
        with pytest.raises(ValueError):
            parse_ocrch_header(bad)
    with pytest.raises(ValueError, match="missing"):
        verify_body_signature(K1, None, S1_BODY)


def test_checkout_link_signs_the_page_url_without_sig() -> None:
    link = checkout_link(K1, OID, page="https://checkout.example.com/pay", ts=1711900800)
    assert link == f"{U1_URL}&sig=1711900800.aN1ACklfLN73eiQ3RjOuPee%2B23g1lBVXFlBiu%2FR7wFY"


def test_session_signature_roundtrip_and_rotation() -> None:
    body = b'{"id":"evt_1","type":"checkout.session.completed"}'
    header = sign_session_webhook("whsec_a", body, 1795394311)
    assert verify_session_signature("whsec_a", header, body, now=1795394311) == 1795394311
    rotated = f"{header},v1={'0' * 64}"
    assert verify_session_signature("whsec_a", rotated, body, now=1795394400) == 1795394311
    with pytest.raises(ValueError, match="mismatch"):
        verify_session_signature("whsec_b", header, body, now=1795394311)
    with pytest.raises(ValueError, match="tolerance"):
        verify_session_signature("whsec_a", header, body, now=1795394612)
    with pytest.raises(ValueError, match="not"):
        verify_session_signature("whsec_a", "v1=abc", body)
