"""Admin authentication (api.md §1.4): the plaintext secret in `Ocrch-Admin-Authorization`,
checked against an argon2id PHC string. A plaintext secret in the config is hashed and written
back to the file on start, exactly as Ocrch does, so the file never keeps it."""

from __future__ import annotations

import asyncio
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
from app.errors import AdminSecretMissing, AdminSecretRejected, MalformedAdminHeader
from app.http import Services, services_of
from app.security import config_file
from app.security.limits import Limit
from app.security.rate_limit import client_of, enforce
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


class _Gate:
    """At most `size` argon2 verifications at once in this process (per event loop): each one
    holds 19 MiB and a CPU for ~20 ms, and the default thread pool would run 40."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._size = 0
        self._semaphore = asyncio.Semaphore(1)

    def get(self, size: int) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._loop or size != self._size:
            self._loop, self._size, self._semaphore = loop, size, asyncio.Semaphore(size)
        return self._semaphore


_GATE = _Gate()


async def authenticate_admin(scope: Any, services: Services, header: str | None) -> None:
    """Ocrch's checks in Ocrch's order; before argon2 runs, the attempt is counted against the
    client's and everyone's `[security].admin_auth_attempts_per_window*` (429 past either)."""
    settings = services.settings
    if header is None:
        raise AdminSecretMissing
    if not is_visible_ascii(header):
        raise MalformedAdminHeader
    phc = settings.admin.secret
    if not is_phc(phc):
        phc = hash_plaintext_in_config(settings).admin.secret
    key = (phc, hashlib.sha256(header.encode()).hexdigest())
    if key in _VERIFIED:
        return
    security = settings.security
    window = security.admin_auth_window_seconds
    per_client = Limit("admin-auth", security.admin_auth_attempts_per_window, window)
    await enforce(scope, per_client, client_of(scope, settings))
    overall = Limit("admin-auth-all", security.admin_auth_attempts_per_window_total, window)
    await enforce(scope, overall, "*")
    async with _GATE.get(security.admin_auth_concurrency):
        verified = await anyio.to_thread.run_sync(verify_secret, phc, header)
    if not verified:
        raise AdminSecretRejected
    if len(_VERIFIED) > 64:
        _VERIFIED.clear()
    _VERIFIED.add(key)


async def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    services = services_of(connection.app.state)
    await authenticate_admin(
        connection.scope, services, connection.headers.get("ocrch-admin-authorization")
    )
