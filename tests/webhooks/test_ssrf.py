"""Webhook targets (issue 14, item 13): one lookup per connection, checked and pinned; addresses
that wrap private IPv4 refused; literal private IPs refused when the order is created."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from app.config import load_settings
from app.main import create_app
from app.models import WebhookAttempt
from app.webhooks.ssrf import is_public
from tests.conftest import settings_dict
from tests.helpers import body_bytes, order_body, signed_headers
from tests.webhooks.test_sender import Receiver, events, make_services, paid_order, run_until

PUBLIC = "93.184.215.14"
"""A global unicast address; nothing here can reach it, so reaching the receiver means the
client connected somewhere it was not told to."""


class RebindingDns:
    """The system resolver, except for names in `answers`: each lookup of such a name gets the
    next answer (the last one repeats), as a rebinding attacker's DNS server with TTL 0 does."""

    def __init__(self, loop: asyncio.AbstractEventLoop, answers: dict[str, list[str]]) -> None:
        self.original = loop.getaddrinfo
        self.answers = answers
        self.lookups: dict[str, int] = {}

    async def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.answers:
            return await self.original(host, port, *args, **kwargs)
        count = self.lookups.get(name, 0)
        self.lookups[name] = count + 1
        address = self.answers[name][min(count, len(self.answers[name]) - 1)]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    holder: dict[str, Any] = {}

    def install(answers: dict[str, list[str]]) -> RebindingDns:
        loop = asyncio.get_running_loop()
        fake = RebindingDns(loop, answers)
        monkeypatch.setattr(loop, "getaddrinfo", fake.getaddrinfo)
        return fake

    holder["install"] = install
    yield holder


@pytest.fixture
async def receiver() -> Any:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_rebinding_name_connects_only_to_the_checked_address(
    database_url: str, receiver: Receiver, dns: dict[str, Any]
) -> None:
    """Public to the check, loopback to a second lookup: the sender looks up once and connects to
    the public answer, so the loopback receiver never sees the request."""
    fake = dns["install"]({"rebind.test": [PUBLIC, "127.0.0.1"]})
    services = make_services(database_url, allow_private_targets=False, timeout_seconds=1.0)
    await paid_order(services, f"http://rebind.test:{receiver.port}/hook")
    await run_until(services, lambda: False, seconds=0.1)
    assert receiver.requests == []
    assert fake.lookups["rebind.test"] == 1
    async with services.sessionmaker() as session:
        [attempt] = list(await session.scalars(sa.select(WebhookAttempt)))
    assert attempt.status_code is None and not (attempt.error or "").startswith("blocked:")
    await services.engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_name_resolving_to_loopback_is_blocked_with_one_lookup(
    database_url: str, receiver: Receiver, dns: dict[str, Any]
) -> None:
    fake = dns["install"]({"inside.test": ["127.0.0.1"]})
    services = make_services(database_url, allow_private_targets=False)
    await paid_order(services, f"http://inside.test:{receiver.port}/hook")
    await run_until(services, lambda: False, seconds=0.1)
    assert receiver.requests == []
    assert fake.lookups["inside.test"] == 1
    [event] = await events(services)
    assert (event.last_error or "").startswith("blocked: inside.test resolves to non-public")
    await services.engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_pinned_connection_keeps_the_name_in_host(
    database_url: str, receiver: Receiver, dns: dict[str, Any]
) -> None:
    """Allowed (dev mode): the connection goes to the resolved address, the request still names
    the host (and TLS would send SNI for it and verify the certificate against it)."""
    dns["install"]({"hooks.test": ["127.0.0.1"]})
    services = make_services(database_url, allow_private_targets=True)
    await paid_order(services, f"http://hooks.test:{receiver.port}/hook")
    await run_until(services, lambda: bool(receiver.requests), seconds=5)
    [request] = receiver.requests
    assert request["headers"]["Host"] == f"hooks.test:{receiver.port}"
    await services.engine.dispose()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2002:c0a8:101::", False),  # 6to4 of 192.168.1.1
        ("2002:5db8:d70e::1", True),  # 6to4 of a public address
        ("fec0::1", False),  # site-local
        ("feff::1", False),
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b::c0a8:101", False),  # NAT64 of 192.168.1.1
        ("64:ff9b::5db8:d70e", True),  # NAT64 of a public address
        ("::ffff:10.0.0.1", False),
        ("::127.0.0.1", False),
        ("2001:db8::1", False),
        ("2606:4700::1111", True),
        ("93.184.215.14", True),
    ],
)
def test_address_classes(address: str, public: bool) -> None:
    assert is_public(address) is public


async def _create(allow: bool, database_url: str, webhook_url: str) -> Any:
    data = settings_dict(database_url, webhooks={"allow_private_targets": allow})
    async with AsyncTestClient(app=create_app(load_settings(None, **data))) as client:
        raw = body_bytes(order_body(webhook_url=webhook_url))
        return await client.post("/api/v1/service/orders", content=raw, headers=signed_headers(raw))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/h",
        "http://10.1.2.3/h",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/h",
        "http://[2002:7f00:1::1]/h",
        "http://[64:ff9b::a00:1]/h",
        "http://[fec0::1]/h",
        "http://0.0.0.0/h",
    ],
)
async def test_literal_private_webhook_url_refused_at_creation(
    sqlite_database_url: str, url: str
) -> None:
    response = await _create(False, sqlite_database_url, url)
    assert response.status_code == 400, response.text
    assert "non-public address" in response.text
    assert "allow_private_targets" in response.text


async def test_literal_private_webhook_url_allowed_when_configured(
    sqlite_database_url: str,
) -> None:
    assert (await _create(True, sqlite_database_url, "http://127.0.0.1:9/h")).status_code == 201


async def test_hostname_webhook_url_is_checked_at_delivery_not_creation(
    sqlite_database_url: str,
) -> None:
    response = await _create(False, sqlite_database_url, "http://localhost:9/h")
    assert response.status_code == 201


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_session_event_without_its_secret_is_not_signed_with_the_merchant_secret(
    database_url: str, receiver: Receiver
) -> None:
    """Sessions created while `[checkout_sessions].webhook_url` was set, config changed since:
    their events wait with a clear error rather than go out under `[merchant].secret`."""
    from app.db import unit_of_work, utcnow
    from app.ids import new_id
    from app.models import WebhookEvent

    services = make_services(database_url)
    async with unit_of_work(services.sessionmaker) as session:
        session.add(
            WebhookEvent(
                id=new_id(),
                event_type="checkout.session.completed",
                target_url=receiver.url,
                payload={"id": "evt_1", "object": "event", "type": "checkout.session.completed"},
                next_attempt_at=utcnow(),
            )
        )
    await run_until(services, lambda: False, seconds=0.1)
    assert receiver.requests == []
    [event] = await events(services)
    assert event.status == "pending" and "webhook_secret" in (event.last_error or "")
    await services.engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_pinned_tls_connection_sends_the_name_and_verifies_the_certificate(
    database_url: str, dns: dict[str, Any], tmp_path: Any
) -> None:
    """Over HTTPS to a pinned address the handshake names the host (SNI) and the certificate is
    verified: a self-signed one for that name is refused, not trusted because we chose the IP."""
    import shutil
    import ssl
    import subprocess

    from aiohttp import web

    from tests.conftest import free_port, unavailable

    openssl = shutil.which("openssl")
    if openssl is None:
        unavailable("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj"]
    name = ["/CN=hooks.test", "-addext", "subjectAltName=DNS:hooks.test"]
    subprocess.run(
        [openssl, *request, *name, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc]
    app = web.Application()

    async def hook(_request: web.Request) -> web.Response:
        return web.Response(status=204)

    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    try:
        dns["install"]({"hooks.test": ["127.0.0.1"]})
        services = make_services(database_url, allow_private_targets=True)
        await paid_order(services, f"https://hooks.test:{port}/hook")
        await run_until(services, lambda: False, seconds=0.1)
        [event] = await events(services)
        assert names == ["hooks.test"]
        assert "certificate verify failed" in (event.last_error or ""), event.last_error
        await services.engine.dispose()
    finally:
        await runner.cleanup()
