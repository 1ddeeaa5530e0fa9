"""Server side of the hosted page: static files, the QR endpoint, the page's settings."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from litestar.testing import AsyncTestClient

from app.checkout.routes import _render
from app.config import load_settings
from app.main import create_app
from tests.conftest import settings_dict


async def test_page_qr_and_config(tmp_path: Path, database_url: str) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>Checkout</title>")
    data = settings_dict(
        database_url,
        checkout={"frontend_dir": str(tmp_path), "signature_refresh_url": "https://s.example/r"},
    )
    client: AsyncTestClient[Any]
    async with AsyncTestClient(app=create_app(load_settings(None, **data))) as client:
        page = await client.get("/checkout/")
        assert page.status_code == 200 and "<title>Checkout</title>" in page.text
        config = await client.get("/checkout/config.json")
        assert config.json() == {"refresh_url": "https://s.example/r", "api_base": ""}
        link = (
            "ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address=0x1&uint256=5"
        )
        qr = await client.get("/checkout/qr.svg", params={"data": link})
        assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
        assert "viewBox" in qr.text
        assert qr.text == _expected_svg(link)
        assert (await client.get("/checkout/qr.svg")).status_code == 400
        assert (
            await client.get("/checkout/qr.svg", params={"data": "x" * 2000})
        ).status_code == 400


def _expected_svg(link: str) -> str:
    import io

    buffer = io.BytesIO()
    segno.make(link, error="m", micro=False).save(
        buffer, kind="svg", border=4, xmldecl=False, omitsize=True, title="Payment QR code"
    )
    return buffer.getvalue().decode()


async def test_qr_is_rate_limited_per_client(database_url: str) -> None:
    data = settings_dict(database_url, security={"qr_rate_limit_per_minute": 3})
    client: AsyncTestClient[Any]
    async with AsyncTestClient(app=create_app(load_settings(None, **data))) as client:
        codes = [
            (await client.get("/checkout/qr.svg", params={"data": f"link-{n}"})).status_code
            for n in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        limited = await client.get("/checkout/qr.svg", params={"data": "link-0"})
        assert limited.status_code == 429, "cached answers count too"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["error"]["type"] == "rate_limit_error"
        assert (await client.get("/checkout/config.json")).status_code == 200


async def test_qr_renders_off_the_event_loop_and_caches(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big QR code takes tens of milliseconds of pure Python: it must be drawn in a worker
    thread (the real segno, watched), and a repeated link must not be drawn again."""
    app = create_app(load_settings(None, **settings_dict(database_url)))
    real_make = segno.make
    threads: list[int] = []

    def watched_make(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real_make(*args, **kwargs)

    monkeypatch.setattr(segno, "make", watched_make)
    links = [f"{n}-{time.time()}-" + "x" * 900 for n in range(4)]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answers = await asyncio.gather(
            *[http.get("/checkout/qr.svg", params={"data": link}) for link in links]
        )
        assert [a.status_code for a in answers] == [200] * len(links)
        assert answers[0].text == _expected_svg(links[0])
        assert len(threads) == len(links) + 1
        assert threading.get_ident() not in threads[:-1], "rendered on the event loop"
        before = _render.cache_info().hits
        again = await http.get("/checkout/qr.svg", params={"data": links[0]})
        assert again.content == answers[0].content
        assert _render.cache_info().hits == before + 1
        assert len(threads) == len(links) + 1, "a cached link was drawn again"
