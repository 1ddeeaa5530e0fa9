"""The error map (app/errors.py, app/answers.py): every error has exactly one common row (status
and text), every surface's table names only errors and fields that exist, the Ocrch texts are
api.md's byte for byte, and no code raises an HTTP-named error any more."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import string
from pathlib import Path
from typing import Any

import pytest

from app import errors
from app.admin import routes as admin_routes
from app.answers import ANSWERS, Table, answer
from app.dialects import epay, epusdt, trades
from app.errors import AppError
from app.sessions import routes as session_routes

APP = Path(__file__).resolve().parent.parent / "app"
ERRORS = sorted(
    (
        cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, AppError) and not name.startswith("_")
    ),
    key=lambda cls: cls.__name__,
)
"""Every error a caller may raise (`_About…` only share a `param`)."""
SURFACES: dict[str, Table] = {
    "admin": admin_routes.ANSWERS,
    "sessions": session_routes.ANSWERS,
    "trades": trades.ANSWERS,
    "epusdt": epusdt.ANSWERS,
    "epay": epay.ANSWERS,
}
HTTP_NAMED = {"HttpNamedError", "BadRequest", "NotFound", "Conflict", "ServiceUnavailable"}
SAMPLES = {"str": "x", "int": 7, "str | None": "x"}


def sample(cls: type[AppError]) -> AppError:
    """An instance with every required field filled in by its type."""
    if not dataclasses.is_dataclass(cls):
        return cls()
    required = [
        SAMPLES[str(f.type)]
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    return cls(*required)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def field_names(cls: type[AppError]) -> set[str]:
    own = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    return own | {"param"}


def test_every_error_has_exactly_one_common_row() -> None:
    tree = ast.parse((APP / "answers.py").read_text())
    table = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "ANSWERS"
    )
    assert isinstance(table, ast.Dict)
    keys = [ast.unparse(key) for key in table.keys if key is not None]
    assert len(keys) == len(set(keys)), "an error is mapped twice"
    assert sorted(keys) == sorted(f"e.{cls.__name__}" for cls in ERRORS)
    for cls in ERRORS:
        row = ANSWERS[cls]
        assert isinstance(row.status, int) and 400 <= row.status <= 599, cls
        assert isinstance(row.text, str) and row.text, cls
        assert placeholders(row.text) <= field_names(cls), cls


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_renders_on_every_surface(cls: type[AppError]) -> None:
    exc = sample(cls)
    status, text = answer(exc)
    assert (status, text) == (exc.status_code, exc.message) == (status, str(exc))
    for table in SURFACES.values():
        surface_status, surface_text = answer(exc, table)
        assert isinstance(surface_status, int) and surface_text


@pytest.mark.parametrize("name", SURFACES)
def test_surface_tables_name_errors_and_their_fields(name: str) -> None:
    for cls, row in SURFACES[name].items():
        assert issubclass(cls, AppError)
        assert row.status is not None or row.text is not None, cls
        if row.text is not None:
            assert placeholders(row.text) <= field_names(cls), cls


OCRCH: list[tuple[AppError, int, str]] = [
    (errors.SignatureMissing(), 401, "missing Ocrch-Signature header"),
    (errors.MalformedSignatureHeader(), 400, "invalid Ocrch-Signature header format"),
    (errors.UnreadableBody(), 400, "failed to read request body"),
    (errors.SignatureNotBase64(), 400, "invalid signature encoding"),
    (errors.InvalidJsonBody(), 400, "invalid JSON body"),
    (errors.SignatureMismatch(), 401, "signature verification failed"),
    (errors.MalformedSignedUrlHeaders(), 400, "invalid header format"),
    (errors.SignedUrlMissing(), 400, "missing Ocrch-Signed-Url header"),
    (errors.SignatureExpired(), 401, "signature expired"),
    (errors.OriginNotAllowed(), 403, "origin not allowed"),
    (errors.AdminSecretMissing(), 401, "missing Ocrch-Admin-Authorization header"),
    (errors.MalformedAdminHeader(), 400, "invalid authorization header"),
    (errors.AdminSecretRejected(), 401, "invalid admin secret"),
    (errors.OrderNotFound(), 404, "order not found"),
    (errors.OrderNotPending(), 409, "order is not pending"),
    (errors.NoWallet("usdt.trc20"), 400, "no wallet available for the selected chain and coin"),
    (errors.WrongContentType(), 415, "Expected request with `Content-Type: application/json`"),
]
"""api.md §1.2-1.4 and §3, and axum's `Json` rejection."""


@pytest.mark.parametrize(("exc", "status", "text"), OCRCH, ids=lambda v: type(v).__name__)
def test_ocrch_texts_are_api_md_byte_for_byte(exc: AppError, status: int, text: str) -> None:
    assert answer(exc) == (status, text)


def test_the_admin_api_says_resource_not_found() -> None:
    for exc in (errors.OrderNotFound(), errors.TransferNotFound()):
        assert answer(exc, admin_routes.ANSWERS) == (404, "resource not found")


def test_epusdt_codes_and_epay_words() -> None:
    surfaces = (epusdt.ANSWERS, trades.ANSWERS)
    assert answer(errors.OrderNotFound(), *surfaces) == (10008, "order not found")
    assert answer(errors.NoWallet("usdt.erc20"), *surfaces) == (
        10003,
        "no wallet is configured for usdt.erc20",
    )
    assert answer(errors.SubscriptionRefused(), *surfaces)[0] == 400  # anything else
    assert answer(errors.InvalidCurrency("nope"), *surfaces) == (10006, "nope")
    assert answer(errors.AmountTooFine("USDT"), *surfaces)[0] == 10004
    assert answer(errors.NoFreeAmount("USDT", "eth"), *surfaces)[0] == 10005
    assert answer(errors.NoTestWallet("usdt.erc20"), *surfaces)[0] == 10003
    words = answer(errors.UnsupportedTradeType("x.y"), epay.ANSWERS, trades.ANSWERS)[1]
    assert words == "unsupported type: x.y"


def _raised_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            names.add(ast.unparse(target).rsplit(".", 1)[-1])
    return names


def test_no_code_raises_an_http_named_error() -> None:
    offenders: dict[str, Any] = {}
    for path in sorted(APP.rglob("*.py")):
        if path.name in ("errors.py", "answers.py"):
            continue
        used = _raised_names(path) & HTTP_NAMED
        if used:
            offenders[str(path.relative_to(APP))] = sorted(used)
    assert offenders == {}, "raise an error named for what happened (app/errors.py)"
