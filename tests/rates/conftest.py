"""The local rate provider, started once per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.rates.rate_server import PROVIDERS, RateServer


@pytest.fixture(scope="module")
def _rate_server_process() -> Iterator[RateServer]:
    server = RateServer().start()
    yield server
    server.stop()


@pytest.fixture
def rate_server(_rate_server_process: RateServer) -> RateServer:
    """The shared server, reset to healthy answers with no overrides for each test."""
    for name in PROVIDERS:
        provider = _rate_server_process[name]
        provider.mode, provider.hits = "ok", 0
        provider.rates.clear()
    return _rate_server_process
