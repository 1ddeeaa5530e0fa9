"""The bounded JSON decoder every API uses (app/jsonbody.py): its limits at their edges."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from app.jsonbody import MAX_DEPTH, MAX_EXPONENT, MAX_NUMBER_CHARS, JsonBodyError, decode_json


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_numbers_keep_their_text() -> None:
    data = decode_json(b'{"a":"19.99","b":20.00,"c":1e2,"d":-0.5,"e":12345678901234567890}')
    assert data == {
        "a": "19.99",
        "b": Decimal("20.00"),
        "c": Decimal("1e2"),
        "d": Decimal("-0.5"),
    } | {"e": 12345678901234567890}
    assert str(data["b"]) == "20.00"  # the scale the sender wrote


@pytest.mark.parametrize(
    "body",
    [
        b"1e999999999",
        b"1e999999999999999999",
        b"-1E+999999999",
        f"1e{MAX_EXPONENT + 1}".encode(),
        f"1e-{MAX_EXPONENT + 1}".encode(),
        b"1." + b"1" * MAX_NUMBER_CHARS,
        b"9" * 200,
        b"9" * 200_000,
        b"NaN",
        b"Infinity",
        nested(100_000),
        nested(MAX_DEPTH + 1),
        b'{"a":' + nested(MAX_DEPTH) + b"}",
        b'"a\\u0000b"',
        b'{"a\\u0000":1}',
        b'"\\ud800"',
        b'["\\udc00x"]',
        b"\xff",
        b"",
        b"{} {}",
    ],
)
def test_refused_at_once(body: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(JsonBodyError):
        decode_json(body)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "body",
    [
        f"1e{MAX_EXPONENT}".encode(),
        b"1." + b"1" * (MAX_NUMBER_CHARS - 2),
        nested(MAX_DEPTH),
        b'{"a":' + nested(MAX_DEPTH - 1) + b"}",
        b'"\\ud83d\\ude00"',  # a surrogate pair is one storable character
        b"9" * 100,
    ],
)
def test_accepted_at_the_edge(body: bytes) -> None:
    decode_json(body)


def test_the_culprit_is_named() -> None:
    with pytest.raises(JsonBodyError) as info:
        decode_json(b'{"line_items":[{"name":"ok"},{"name":"a\\u0000"}]}')
    assert info.value.where == ("line_items", 1, "name")


def test_deep_bodies_with_a_raised_recursion_limit() -> None:
    """py_ecc (loaded with web3) raises the limit to 100,000; msgspec then recursed until the C
    stack overflowed and the process died (found by the full suite, after a web3 test)."""
    import sys

    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        for body in (nested(100_000), b"[" * 1_000_000, b'{"a":' * 100_000):
            with pytest.raises(JsonBodyError):
                decode_json(body)
        assert sys.getrecursionlimit() == 100_000
    finally:
        sys.setrecursionlimit(before)
