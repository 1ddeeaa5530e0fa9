"""Signature vectors of api.md §8 and the strictness rules of §1.1."""

from __future__ import annotations

import pytest

from app.errors import AppError
from app.security.signatures import (
    Freshness,
    SignatureEncodingError,
    decode_b64,
    sign_body,
    sign_url,
    url_origin,
    verify_body_signature,
    verify_url_signature,
)

K1, K2 = "test-merchant-secret", "s3cr3t-KEY-#2"
OID = "0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e"
S1_BODY = (
    b'{"amount":"19.99","expecting_wallet_address":null,"order_id":"ord_123","blockchain":null,'
    b'"stablecoin":null,"webhook_url":"https://shop.example.com/webhooks/ocrch"}'
)
S1 = "1711900800.TZ/iv6V357Mmg6M0UqW2H1s5uyfOrPqoGASV35zEAE0"
U1_URL = f"https://checkout.example.com/pay?order_id={OID}"
U1 = "1711900800.aN1ACklfLN73eiQ3RjOuPee+23g1lBVXFlBiu/R7wFY"
OCRCH = Freshness(300, None)


def _parse(text: str) -> str:
    return text


@pytest.mark.parametrize(
    ("key", "ts", "body", "expected"),
    [
        (K1, 1711900800, S1_BODY, S1),
        (
            K2,
            1735689600,
            f'{{"order_id":"{OID}"}}'.encode(),
            "1735689600.v2kIZv3oiskOb1HiEnlktZSvxYrJ0vSTyY9TZ5S/f94",
        ),
        (
            K1,
            1711900860,
            b'{"event_type":"order_status_changed","order_id":"0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e",'
            b'"merchant_order_id":"ord_123","status":"paid","amount":"19.99","timestamp":1711900860}',
            "1711900860.5VJhXo23uU5B4bAbVHF+wZr7AshYdndRpm7yGLOyCxM",
        ),
        (
            K2,
            1711900900,
            b'{"event_type":"unknown_transfer_received","transfer_id":42,"blockchain":"erc20:Ethereum",'
            b'"timestamp":1711900900}',
            "1711900900.WscTKnYI4AXc747WAwAEsXHm219hselvxQKt8r82Nqc",
        ),
    ],
    ids=["S1", "S2", "W1", "W2"],
)
def test_body_vectors(key: str, ts: int, body: bytes, expected: str) -> None:
    assert sign_body(key, body, ts) == expected
    assert (
        verify_body_signature(expected, body, key, OCRCH, parse_body=_parse, now=ts)
        == body.decode()
    )


@pytest.mark.parametrize(
    ("key", "ts", "url", "expected", "origin"),
    [
        (K1, 1711900800, U1_URL, U1, "https://checkout.example.com"),
        (
            K2,
            1735689600,
            "http://localhost:3000/checkout?order=abc&lang=en",
            "1735689600.e2OKbYw+F3ZvMGYuTPZRzU/9m2Cx5LhLBohvSJr8CZM",
            "http://localhost:3000",
        ),
    ],
    ids=["U1", "U2"],
)
def test_url_vectors(key: str, ts: int, url: str, expected: str, origin: str) -> None:
    assert sign_url(key, url, ts) == expected
    assert url_origin(url) == origin
    assert verify_url_signature(expected, url, key, [origin], OCRCH, now=ts) == url


def _body_error(
    header: str | None,
    body: bytes | None = S1_BODY,
    now: int = 1711900800,
    freshness: Freshness = OCRCH,
) -> tuple[int, str]:
    with pytest.raises(AppError) as info:
        verify_body_signature(header, body, K1, freshness, parse_body=_parse, now=now)
    return info.value.status_code, info.value.message


def test_body_freshness_boundaries() -> None:
    assert verify_body_signature(S1, S1_BODY, K1, OCRCH, parse_body=_parse, now=1711901100)
    assert _body_error(S1, now=1711901101) == (401, "signature verification failed")
    # Ocrch accepts future timestamps; our default refuses more than 300 s ahead.
    assert verify_body_signature(S1, S1_BODY, K1, OCRCH, parse_body=_parse, now=1711900000)
    assert _body_error(S1, now=1711900000, freshness=Freshness(300, 300)) == (
        401,
        "signature verification failed",
    )
    assert verify_body_signature(
        S1, S1_BODY, K1, Freshness(300, 300), parse_body=_parse, now=1711900500
    )


def test_body_negatives_in_ocrch_order() -> None:
    assert _body_error(None) == (401, "missing Ocrch-Signature header")
    assert _body_error("1711900800.abc\u00e9") == (400, "invalid Ocrch-Signature header format")
    assert _body_error(S1, body=None) == (400, "failed to read request body")
    assert _body_error(S1, body=b"\xff\xfe") == (400, "failed to read request body")
    assert _body_error("1711900800TZ") == (400, "invalid Ocrch-Signature header format")
    assert _body_error("17119x.TZ") == (400, "invalid Ocrch-Signature header format")
    assert _body_error("99999999999999999999.TZ") == (400, "invalid Ocrch-Signature header format")
    assert _body_error("1711900800.TZ/iv6V357-") == (400, "invalid signature encoding")
    assert _body_error(S1, body=S1_BODY + b" ") == (401, "signature verification failed")
    assert _body_error(S1.replace("TZ/", "TZ0")) == (401, "signature verification failed")


def test_header_checks_come_before_body_checks() -> None:
    # Row 2 (header format) wins over row 3 (body), as in Ocrch.
    assert _body_error("bad\u00e9", body=None) == (400, "invalid Ocrch-Signature header format")
    # Row 4 (no dot) comes after row 3.
    assert _body_error("nodot", body=None) == (400, "failed to read request body")


def test_padded_signature_accepted_and_canonical_bits_enforced() -> None:
    assert verify_body_signature(S1 + "=", S1_BODY, K1, OCRCH, parse_body=_parse, now=1711900800)
    with pytest.raises(SignatureEncodingError):
        decode_b64("TZ/iv6V357Mmg6M0UqW2H1s5uyfOrPqoGASV35zEAE1")  # non-canonical trailing bits
    with pytest.raises(SignatureEncodingError):
        decode_b64("TZ_iv6V357Mmg6M0UqW2H1s5uyfOrPqoGASV35zEAE0")  # URL-safe alphabet
    with pytest.raises(SignatureEncodingError):
        decode_b64("A")


def test_parse_error_comes_before_hmac() -> None:
    def reject(_: str) -> str:
        from app.errors import InvalidJsonBody

        raise InvalidJsonBody

    with pytest.raises(AppError) as info:
        verify_body_signature("1.AAAA", b"{}", K1, OCRCH, parse_body=reject, now=1)
    assert (info.value.status_code, info.value.message) == (400, "invalid JSON body")


def _url_error(
    header: str | None,
    url: str | None = U1_URL,
    origins: list[str] | None = None,
    now: int = 1711900800,
) -> tuple[int, str]:
    allowed = ["https://checkout.example.com"] if origins is None else origins
    with pytest.raises(AppError) as info:
        verify_url_signature(header, url, K1, allowed, OCRCH, now=now)
    return info.value.status_code, info.value.message


def test_url_negatives_in_ocrch_order() -> None:
    assert _url_error(None) == (401, "missing Ocrch-Signature header")
    assert _url_error("nodot") == (400, "invalid header format")
    assert _url_error("1711900800.aN1A-") == (400, "invalid signature encoding")
    assert _url_error(U1, url=None) == (400, "missing Ocrch-Signed-Url header")
    assert _url_error(U1, url=U1_URL + "\u00e9") == (400, "invalid header format")
    assert _url_error(U1, url=U1_URL + "&x=1") == (401, "signature verification failed")
    assert _url_error(U1, now=1711901101) == (401, "signature expired")
    assert _url_error(U1, origins=["https://checkout.example.com/"]) == (403, "origin not allowed")


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("HTTPS://Checkout.Example.COM:443/x", "https://checkout.example.com"),
        ("http://localhost:80/", "http://localhost"),
        ("http://127.0.0.1:3000/a?b", "http://127.0.0.1:3000"),
        ("https://xn--bcher-kva.example/", "https://bücher.example"),
        ("file:///etc/passwd", "null"),
        ("not a url", None),
        ("http://[::1]:8080/", "http://[::1]:8080"),
    ],
)
def test_url_origin(url: str, origin: str | None) -> None:
    assert url_origin(url) == origin


# Issue 14, item 17: browsers (WHATWG) read `\` as `/` in special schemes and drop tabs and
# newlines, so the origin is the one before the backslash; `urlsplit` alone read the other one.
BACKSLASH_ATTACKS = [
    ("https://evil.com\\@checkout.example.com/pay", "https://evil.com"),
    ("https://evil.com\\\\@checkout.example.com/", "https://evil.com"),
    ("HTTPS://evil.com\\@checkout.example.com", "https://evil.com"),
    ("https://evil.com\\.checkout.example.com/", "https://evil.com"),
    ("https://evil.com:8443\\@checkout.example.com/", "https://evil.com:8443"),
    ("wss://evil.com\\@checkout.example.com/", "wss://evil.com"),
    ("https://checkout.exa\tmple.com/pay", "https://checkout.example.com"),
    ("https://checkout.example.com/a\\b?c", "https://checkout.example.com"),
    ("https://user@checkout.example.com\\@evil.com/", "https://checkout.example.com"),
]


@pytest.mark.parametrize(("url", "origin"), BACKSLASH_ATTACKS)
def test_url_origin_reads_backslashes_as_browsers_do(url: str, origin: str) -> None:
    assert url_origin(url) == origin


def test_a_signed_backslash_url_is_not_the_shops_origin() -> None:
    """Signed with the right key, the attack URL still names evil.com: 403, never accepted."""
    url = f"https://evil.com\\@checkout.example.com/pay?order_id={OID}"
    header = sign_url(K1, url, 1711900800)
    assert _url_error(header, url=url) == (403, "origin not allowed")
