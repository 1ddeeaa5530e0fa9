"""The merchant's webhook endpoint on loopback, for the tests and benchmarks that drive a real
`serve` (part of the shared harness, devkit/harness.py): every request recorded, replies scripted
per path."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devkit.harness import free_port


def serve_http(port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """`handler` on 127.0.0.1:`port`, served by a daemon thread (stop it with `stop_http`)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_http(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


@dataclass
class Received:
    """One request the endpoint got: `path` with its query string as sent, `headers` with
    lower-cased names, the raw `body`, and when (monotonic seconds)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (an Epay GET has no body)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class HookReceiver:
    """The merchant's endpoint on loopback, in tests that drive a real `serve`: records every GET
    and POST; replies per path from `replies` (the first unused entry; the last one repeats),
    otherwise `status` with body `ok`, which every webhook format the server sends counts as
    delivered at 200 (Epusdt and Epay read the body)."""

    status: int = 200
    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)
    replies: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(
                    Received(self.command, self.path, headers, body, time.monotonic())
                )
                default = [(receiver.status, b"ok")]
                script = receiver.replies.get(self.path.split("?")[0], default)
                status, reply = script.pop(0) if len(script) > 1 else script[0]
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = serve_http(self.port, Handler)

    def stop(self) -> None:
        stop_http(self.server)
        self.server = None

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path.split("?")[0] == path]

    def events(self, event_type: str) -> list[tuple[dict[str, str], bytes]]:
        """Headers and body of the JSON requests whose `type` is `event_type`."""
        return [
            (r.headers, r.body)
            for r in self.requests
            if isinstance(r.json(), dict) and r.json().get("type") == event_type
        ]

    async def wait_for(
        self, predicate: Callable[[Any], bool], timeout: float = 30.0
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of the first request whose JSON body satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for request in list(self.requests):
                data = request.json()
                if isinstance(data, dict) and predicate(data):
                    return request.headers, request.body
            await asyncio.sleep(0.1)
        raise AssertionError(f"no matching webhook within {timeout} s: {self.requests!r}")

    async def wait_for_path(self, path: str, count: int, timeout: float = 60.0) -> list[Received]:
        """The requests to `path` once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.to(path)) >= count:
                return self.to(path)
            await asyncio.sleep(0.1)
        raise AssertionError(f"fewer than {count} requests to {path}: {self.requests!r}")
