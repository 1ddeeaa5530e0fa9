"""API keys: made, listed and revoked by the operator (`stablecheckout admin api-keys`), checked on
every Checkout Sessions request. The secret is shown once; the database keeps its SHA-256.

Test and live: a key's mode is a partition of the data, not another chain. Sessions created with a
test key are test sessions (`livemode: false`): test keys see only those, live keys only live
ones, and webhook events carry `livemode`. Payments are real on whatever chains this server
watches, so give test keys to a server that watches a test chain (`stablecheckout dev`'s anvil, a
testnet), never expect "test" to mean "free" on a mainnet server.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import (
    AmbiguousApiKey,
    ApiKeyMissing,
    ApiKeyNotFound,
    ApiKeyRevoked,
    InvalidInput,
    MalformedAuthorization,
    NotASecretKey,
    UnknownApiKey,
)
from app.ids import new_id
from app.sessions.models import ApiKey, KeyMode

_ALPHABET = string.ascii_letters + string.digits
SECRET_CHARS = 40
"""40 base62 characters: 238 random bits."""
PREFIX_CHARS = 6
"""Random characters kept (with `sk_test_`) to recognize a key in lists."""
MAX_AUTHORIZATION = 200


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret(mode: KeyMode) -> str:
    return f"sk_{mode.value}_" + "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_CHARS))


def redacted(secret: str) -> str:
    head = secret[: len("sk_test_") + PREFIX_CHARS] if secret.startswith("sk_") else secret[:4]
    return f"{head}…"


async def create_api_key(
    session: AsyncSession, mode: KeyMode, name: str | None = None
) -> tuple[ApiKey, str]:
    """A new key and its secret (the only time the secret exists outside the caller)."""
    if name is not None and len(name) > 100:
        raise InvalidInput("name is longer than 100 characters", param="name")
    secret = new_secret(mode)
    key = ApiKey(
        id=new_id(),
        prefix=secret[: len(f"sk_{mode.value}_") + PREFIX_CHARS],
        secret_hash=hash_secret(secret),
        mode=mode,
        name=name,
        created_at=utcnow(),
    )
    session.add(key)
    await session.flush()
    return key, secret


async def list_api_keys(session: AsyncSession, *, include_revoked: bool = True) -> list[ApiKey]:
    query = sa.select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(await session.scalars(query))


async def revoke_api_key(session: AsyncSession, reference: str) -> ApiKey:
    """Revoke by id, by the displayed prefix (when it names one key) or by the secret itself."""
    reference = reference.strip().rstrip("…")
    try:
        condition = ApiKey.id == uuid.UUID(reference)
    except ValueError:
        if len(reference) > len("sk_test_") + PREFIX_CHARS:
            condition = ApiKey.secret_hash == hash_secret(reference)
        else:
            condition = ApiKey.prefix == reference
    found = list(await session.scalars(sa.select(ApiKey).where(condition)))
    if not found:
        raise ApiKeyNotFound(reference)
    if len(found) > 1:
        raise AmbiguousApiKey(reference, len(found))
    key = found[0]
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    return key


async def authenticate(session: AsyncSession, authorization: str | None) -> ApiKey:
    """`Authorization: Bearer sk_…` → the key; 401 for anything else."""
    if not authorization:
        raise ApiKeyMissing
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or len(authorization) > MAX_AUTHORIZATION:
        raise MalformedAuthorization
    if not secret.startswith(("sk_live_", "sk_test_")):
        raise NotASecretKey
    key = await session.scalar(sa.select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))
    if key is None or not secret.startswith(f"sk_{key.mode}_"):
        raise UnknownApiKey(redacted(secret))
    if key.revoked_at is not None:
        raise ApiKeyRevoked(redacted(secret))
    return key
