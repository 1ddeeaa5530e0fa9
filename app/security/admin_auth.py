"""Admin authentication (api.md §1.4): the plaintext secret in `Ocrch-Admin-Authorization`,
checked against an argon2id PHC string. A plaintext secret in the config is hashed and written
back to the file on start, exactly as Ocrch does, so the file never keeps it."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import anyio
import tomlkit
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.config import Settings
from app.errors import BadRequest, Unauthorized
from app.http import services_of
from app.security import config_file
from app.security.signatures import is_visible_ascii

log = logging.getLogger("app.admin")

# Rust `argon2` 0.5 defaults, which Ocrch writes: argon2id v19, m=19456, t=2, p=1, 32-byte hash.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)


def is_phc(secret: str) -> bool:
    return secret.startswith("$argon2")


def hash_secret(plaintext: str) -> str:
    return HASHER.hash(plaintext)


def verify_secret(phc: str, candidate: str) -> bool:
    try:
        return HASHER.verify(phc, candidate)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_VERIFIED: set[tuple[str, str]] = set()
"""(hash, sha256 of the secret) pairs that verified: argon2 costs ~20 ms on purpose, and a
dashboard makes many calls. Only successes are kept, so a wrong secret always pays full price."""


def hash_plaintext_in_config(settings: Settings) -> Settings:
    """If `[admin].secret` is plaintext, hash it and rewrite the file (keeping all else as is)."""
    secret = settings.admin.secret
    if is_phc(secret):
        return settings
    phc = hash_secret(secret)
    path = settings.config_path
    if path is not None and _file_has_plaintext(Path(path).read_text(encoding="utf-8"), secret):

        def replace_secret(text: str) -> str | None:
            if not _file_has_plaintext(text, secret):
                return None
            document = tomlkit.parse(text)
            document["admin"]["secret"] = phc  # type: ignore[index]
            return tomlkit.dumps(document)

        try:
            if config_file.rewrite(Path(path), replace_secret):
                log.warning("admin.secret_hashed path=%s", path)
        except OSError as exc:
            # A read-only mount (containers): keep the hash in memory, tell the operator.
            log.warning("admin.secret_plaintext_in_readonly_file path=%s error=%s", path, exc)
    settings.admin.secret = phc
    return settings


def _file_has_plaintext(text: str, secret: str) -> bool:
    document: Any = tomlkit.parse(text)
    return bool(document.get("admin", {}).get("secret") == secret)


async def authenticate_admin(settings: Settings, header: str | None) -> None:
    if header is None:
        raise Unauthorized("missing Ocrch-Admin-Authorization header")
    if not is_visible_ascii(header):
        raise BadRequest("invalid authorization header")
    phc = settings.admin.secret
    if not is_phc(phc):
        phc = hash_plaintext_in_config(settings).admin.secret
    key = (phc, hashlib.sha256(header.encode()).hexdigest())
    if key in _VERIFIED:
        return
    if not await anyio.to_thread.run_sync(verify_secret, phc, header):
        raise Unauthorized("invalid admin secret")
    if len(_VERIFIED) > 64:
        _VERIFIED.clear()
    _VERIFIED.add(key)


async def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    settings = services_of(connection.app.state).settings
    await authenticate_admin(settings, connection.headers.get("ocrch-admin-authorization"))
