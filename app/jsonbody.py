"""The one JSON decoder for request bodies, bounded before any arithmetic is done.

Every API (Service, User, Admin, Checkout Sessions) decodes its body here, so one set of limits
holds everywhere: a number is at most `MAX_NUMBER_CHARS` characters with an exponent of at most
`MAX_EXPONENT` (so `1e999999999` is refused while it is still text, never formatted through
`Decimal`), nesting is at most `MAX_DEPTH` levels (100,000 `[` are refused, never recursed), and
no string holds a character a database cannot store (NUL, lone surrogates). Non-integer numbers
come back as `Decimal` built from their text, never as floats (money must stay exact).
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from typing import Any

import msgspec

MAX_DEPTH = 64
"""Objects and arrays nested deeper are refused (every request type needs fewer than 8)."""
MAX_NUMBER_CHARS = 100
"""Characters of one JSON number, sign, point and exponent included."""
MAX_EXPONENT = 400
"""Largest `|e|` of a number written with an exponent (doubles stop near 1e308)."""
MAX_INT_BITS = 333
"""Integers above about 10^100 (the same bound as `MAX_NUMBER_CHARS`) are refused."""

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?(?P<exp>[0-9]+))?")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JsonBodyError(ValueError):
    """A body that is not JSON or passes a limit; `where` is the JSON path of the culprit."""

    def __init__(self, message: str, where: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.where = where


def has_unstorable(text: str) -> bool:
    """Whether `text` holds NUL or a lone surrogate, which PostgreSQL text cannot store."""
    return _UNSTORABLE.search(text) is not None


def _number(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number is longer than {MAX_NUMBER_CHARS} characters")
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise ValueError("not a JSON number")
    exponent = match.group("exp")
    if exponent is not None and int(exponent) > MAX_EXPONENT:
        raise ValueError(f"a number has an exponent beyond {MAX_EXPONENT}")
    return Decimal(text)


_DECODER = msgspec.json.Decoder(float_hook=_number)
SAFE_RECURSION_LIMIT = 1000
"""Python's default. msgspec (on Python 3.11) bounds its recursion by the interpreter's limit,
which a library may raise (py_ecc, loaded with web3, sets 100,000): 100,000 `[` would then
overflow the C stack and kill the process instead of raising RecursionError."""


def _decode(raw: bytes) -> Any:
    limit = sys.getrecursionlimit()
    if limit <= SAFE_RECURSION_LIMIT:
        return _DECODER.decode(raw)
    # msgspec holds the GIL while it decodes, so no other thread runs under the lower limit
    # once the decode has started.
    sys.setrecursionlimit(SAFE_RECURSION_LIMIT)
    try:
        return _DECODER.decode(raw)
    finally:
        sys.setrecursionlimit(limit)


def decode_json(raw: bytes | str) -> Any:
    """The decoded body; raises `JsonBodyError` with a short reason when it cannot be taken."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "replace")
    try:
        data = _decode(raw)
    except msgspec.ValidationError as exc:  # what `_number` raised, or an integer out of range
        reason = str(exc).split(" - at ")[0]
        raise JsonBodyError(
            "a number is too large" if reason == "Integer value out of range" else reason
        ) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, msgspec.DecodeError) else "nested too deeply"
        raise JsonBodyError(reason) from None
    _check_tree(data)
    return data


def _check_tree(data: Any) -> None:
    """Depth, integer size and storable strings, walked without recursion; a path is built
    only for containers (a wide array of scalars costs no extra memory)."""
    _check_scalar(data, ())
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, where = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if len(where) >= MAX_DEPTH:
            raise JsonBodyError(f"nested deeper than {MAX_DEPTH} levels")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and has_unstorable(key):
                raise JsonBodyError(_UNSTORABLE_TEXT, (*where, key))
            if isinstance(item, dict | list):
                stack.append((item, (*where, key)))
            else:
                _check_scalar(item, where, key)


_UNSTORABLE_TEXT = "NUL characters and lone surrogates are not allowed"


def _check_scalar(value: Any, where: tuple[str | int, ...], key: str | int | None = None) -> None:
    if isinstance(value, str):
        if has_unstorable(value):
            raise JsonBodyError(_UNSTORABLE_TEXT, where if key is None else (*where, key))
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        and abs(value).bit_length() > MAX_INT_BITS
    ):
        raise JsonBodyError("a number is too large", where if key is None else (*where, key))
