"""The push subscription EVM newHeads and Solana pubsub share: waking the runner, polling while
no stream is live, moving over the WebSocket URLs when one fails, resubscribing on demand.

The streams here are small coroutines that follow the contract a source's stream follows (live,
wake, return or raise); test_evm_source and test_solana_source run the real ones against anvil
and the Solana simulator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from watchers.push import Push


class Streams:
    """Streams that go live, then wait to be told what to do: wake the runner, end, or fail."""

    def __init__(self) -> None:
        self.push: Push | None = None
        self.opened: list[str] = []
        self.orders: asyncio.Queue[str] = asyncio.Queue()
        self.fail_urls: set[str] = set()

    async def __call__(self, url: str) -> None:
        assert self.push is not None
        self.opened.append(url)
        if url in self.fail_urls:
            raise ConnectionRefusedError(f"{url} refused")
        self.push.live(url)
        while True:
            order = await self.orders.get()
            if order == "wake":
                self.push.wake()
            elif order == "end":
                return
            else:
                raise ConnectionResetError(order)


@pytest.fixture
async def streams() -> AsyncIterator[Streams]:
    made = Streams()
    yield made
    if made.push is not None:
        await made.push.close()


def push_over(streams: Streams, urls: list[str]) -> Push:
    streams.push = Push("test: heads", urls, streams)
    return streams.push


async def test_a_live_stream_wakes_the_runner_at_once(streams: Streams) -> None:
    push = push_over(streams, ["ws://one"])
    assert await push.start(2.0) and push.subscribed
    started = time.monotonic()
    waiter = asyncio.create_task(push.wait(timeout=10.0, poll_interval=5.0))
    await asyncio.sleep(0.05)
    assert not waiter.done(), "live: waits for the stream, not the poll interval"
    streams.orders.put_nowait("wake")
    await waiter
    assert time.monotonic() - started < 1.0


async def test_a_failed_stream_wakes_the_runner_and_the_next_url_takes_over(
    streams: Streams,
) -> None:
    push = push_over(streams, ["ws://one", "ws://two"])
    streams.fail_urls.add("ws://two")
    assert await push.start(2.0)
    waiter = asyncio.create_task(push.wait(timeout=10.0, poll_interval=5.0))
    await asyncio.sleep(0.05)
    streams.orders.put_nowait("connection reset by peer")
    await asyncio.wait_for(waiter, 1.0)  # the lost stream wakes it: it polls from now on
    assert not push.subscribed
    started = time.monotonic()
    await push.wait(timeout=10.0, poll_interval=0.2)
    assert time.monotonic() - started < 1.0, "no stream live: the poll interval, not the timeout"
    assert await push.start(5.0), "back on the first URL after the second refused"
    assert streams.opened == ["ws://one", "ws://two", "ws://one"]


async def test_restart_opens_a_new_stream(streams: Streams) -> None:
    push = push_over(streams, ["ws://one"])
    assert await push.start(2.0)
    push.restart()
    await asyncio.sleep(0.01)
    assert not push.subscribed
    assert await push.start(2.0)
    assert streams.opened == ["ws://one", "ws://one"]


async def test_without_a_websocket_url_it_polls(streams: Streams) -> None:
    push = push_over(streams, [])
    assert not push.enabled
    assert not await push.start(0.1)
    started = time.monotonic()
    await push.wait(timeout=5.0, poll_interval=0.1)
    assert time.monotonic() - started < 1.0
    assert streams.opened == []


async def test_closed_it_opens_nothing(streams: Streams) -> None:
    push = push_over(streams, ["ws://one"])
    assert await push.start(2.0)
    await push.close()
    assert not push.subscribed
    assert not await push.start(0.1)
    await push.wait(timeout=0.05, poll_interval=5.0)
    assert streams.opened == ["ws://one"]
