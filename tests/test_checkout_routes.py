"""Server side of the hosted page: static files, the QR endpoint, the page's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import segno
from litestar.testing import AsyncTestClient

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
