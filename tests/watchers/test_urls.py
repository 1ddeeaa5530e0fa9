"""How node URLs appear in logs and errors, and which ones push."""

from __future__ import annotations

from watchers.urls import is_websocket, redact


def test_redact_keeps_the_origin_and_hides_paths_and_queries() -> None:
    assert (
        redact("https://mainnet.provider.example/v3/SECRETKEY")
        == "https://mainnet.provider.example/…"
    )
    assert redact("wss://node.example:8546?apikey=SECRET") == "wss://node.example:8546/…"
    assert redact("HTTP://Node.Example#frag") == "HTTP://Node.Example/…"
    assert redact("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    assert redact("http://127.0.0.1:8545/") == "http://127.0.0.1:8545", "a bare slash hides nothing"
    assert redact("not a url") == "not a url"


def test_websocket_urls_are_told_apart() -> None:
    assert is_websocket("ws://127.0.0.1:8546") and is_websocket("WSS://node.example/KEY")
    assert not is_websocket("https://node.example") and not is_websocket("http://ws.example")
