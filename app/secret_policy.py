"""What a secret in the config must be: long enough that it cannot be guessed offline, and not a
value printed in an example.

The merchant secret keys HMAC-SHA256 over data anyone can see (a signed checkout URL is in the
shopper's address bar), so one captured URL lets an attacker test guesses offline at GPU speed:
"shop" fell in 0.6 s. 32 random characters put that out of reach. The admin secret is checked
online through argon2, so 16 characters suffice. A placeholder from our files or Ocrch's docs is
refused whatever its length: it is public.
"""

from __future__ import annotations

import secrets

MIN_MERCHANT_SECRET = 32
MIN_ADMIN_SECRET = 16
MIN_WEBHOOK_SECRET = 32
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
GENERATE_HINT = "generate one with `stablecheckout gen-secret`"

KNOWN_PLACEHOLDERS = frozenset(
    {
        "change-me-to-a-secure-password",
        "your-merchant-secret-key",
        "replace-with-a-long-random-merchant-secret",
        "example-merchant-secret-change-me",
        "test-merchant-secret",
        "s3cr3t-KEY-#2",
        "admin-secret-2",
        "dev-merchant-secret",
        "dev-admin-secret",
        "bench-merchant-secret",
        "bench-admin-secret",
        "whsec_test_secret",
    }
)
"""Secrets printed in Ocrch's docs, api.md's test vectors and earlier versions of our files."""
PLACEHOLDER_MARKERS = ("change-me", "changeme", "replace-with", "replace-me", "placeholder", "…")
"""Fragments that mark a value as an example to overwrite (compared case-insensitively)."""


def new_secret(*, webhook: bool = False) -> str:
    """256 random bits, URL-safe base64 (43 characters); `whsec_`-prefixed for a webhook key."""
    token = secrets.token_urlsafe(32)
    return f"{WEBHOOK_SECRET_PREFIX}{token}" if webhook else token


def is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    if value.strip() in KNOWN_PLACEHOLDERS or lowered in KNOWN_PLACEHOLDERS:
        return True
    return any(marker in lowered for marker in PLACEHOLDER_MARKERS)


def problem(value: str, minimum: int) -> str | None:
    """Why `value` may not be used as a secret, worded for the operator, or None."""
    if is_placeholder(value):
        return f"is a placeholder from an example config, not a secret: {GENERATE_HINT}"
    if len(value) < minimum:
        return (
            f"is too short ({len(value)} characters; at least {minimum} are needed so it cannot "
            f"be guessed offline): {GENERATE_HINT}"
        )
    return None
