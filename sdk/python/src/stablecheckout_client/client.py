"""The clients: the surface of `_core` (written once) over two thin httpx transports.

`Client`, `UserClient` and `SessionsClient` block; `AsyncClient`, `AsyncUserClient` and
`AsyncSessionsClient` have the same methods, awaited. Only `_send` differs between the two.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, TypeVar

import httpx

from stablecheckout_client import _core
from stablecheckout_client.errors import TransportError

T = TypeVar("T")
Self = TypeVar("Self", bound="SyncTransport")
AsyncSelf = TypeVar("AsyncSelf", bound="AsyncTransport")


def _request(base_url: str, call: _core.Call[Any]) -> dict[str, Any]:
    return {
        "method": call.method,
        "url": base_url + call.path,
        "content": call.content,
        "headers": {"User-Agent": _core.USER_AGENT, **call.headers},
        "params": call.params,
    }


class SyncTransport(_core.Blocking):
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = _core.DEFAULT_TIMEOUT,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._own = http is None
        self._http = http or httpx.Client(timeout=timeout)

    def _send(self, call: _core.Call[T]) -> T:
        try:
            response = self._http.request(**_request(self.base_url, call))
        except httpx.HTTPError as exc:
            raise TransportError(call.describe(exc)) from exc
        return call.finish(response.status_code, response.text)

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self: Self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTransport(_core.Awaiting):
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = _core.DEFAULT_TIMEOUT,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._own = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)

    async def _send(self, call: _core.Call[T]) -> T:
        try:
            response = await self._http.request(**_request(self.base_url, call))
        except httpx.HTTPError as exc:
            raise TransportError(call.describe(exc)) from exc
        return call.finish(response.status_code, response.text)

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def __aenter__(self: AsyncSelf) -> AsyncSelf:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Client(_core.OrderApi, SyncTransport):
    def user(self, signed_url: str) -> UserClient:
        """A User API client for `signed_url` that re-signs every call with the secret."""
        return UserClient(self.base_url, signed_url, secret=self.secret, http=self._http)


class AsyncClient(_core.OrderApi, AsyncTransport):
    def user(self, signed_url: str) -> AsyncUserClient:
        """A User API client for `signed_url` that re-signs every call with the secret."""
        return AsyncUserClient(self.base_url, signed_url, secret=self.secret, http=self._http)


class UserClient(_core.UserApi, SyncTransport):
    pass


class AsyncUserClient(_core.UserApi, AsyncTransport):
    pass


class SessionsClient(_core.SessionsApi, SyncTransport):
    pass


class AsyncSessionsClient(_core.SessionsApi, AsyncTransport):
    pass
