"""The Checkout Sessions fixtures (API keys made as `admin api-keys create` makes them)."""

from tests.sessions.conftest import api_keys, sdb  # noqa: F401 - fixtures used by name
