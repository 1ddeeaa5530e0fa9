"""Pub/sub through Litestar's Channels plugin: in memory in one process, Redis across many.

Litestar's Redis backend, as it comes, loses messages in two ways, both fixed here:
- Concurrent SUBSCRIBEs on a fresh process (several sockets opening at once) race in redis-py's
  PubSub.connect(): each opens its own connection, only the last one is read, and the channels
  subscribed on the others never deliver a message. Subscribing and unsubscribing are serialized.
- One connection error (Redis restarting) ends its publish and subscribe workers for good: the
  replica never pushes again and its open sockets stay silent. Here a failed publish is retried
  once, then dropped and logged; the subscriber connection is re-established with backoff; and a
  reconnection that restores subscriptions ends them, so their sockets close with 1012 and the pages
  reconnect and read a fresh snapshot: a message lost while Redis was away costs that reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend

log = logging.getLogger("app.realtime")

_REDIS_DOWN = (ConnectionError, OSError, TimeoutError, RuntimeError)
"""Besides redis.RedisError: what a dead connection raises inside redis-py."""


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, *_REDIS_DOWN)


class ResilientRedisPubSubBackend(RedisChannelsPubSubBackend):
    """Litestar's Redis pub/sub backend, kept alive across Redis restarts (see the module doc)."""

    def __init__(self, *, redis: Any, on_reconnect: Callable[[], None] | None = None) -> None:
        super().__init__(redis=redis)
        from redis.asyncio.client import PubSub

        backend = self

        class _PubSub(PubSub):  # type: ignore[misc]
            async def on_connect(self, connection: Any) -> None:
                had = bool(self.channels)
                await super().on_connect(connection)  # re-subscribes what it had
                if had:  # a reconnection that restored subscriptions: messages may be lost
                    backend._resubscribed()

        self._pubsub_conn = _PubSub(redis.connection_pool)
        self._commands = asyncio.Lock()
        self.on_reconnect = on_reconnect
        self._errors = _redis_errors()

    @property
    def _pub_sub(self) -> Any:
        return self._pubsub_conn

    def _resubscribed(self) -> None:
        log.warning("realtime.redis_reconnected: open sockets resync from the database")
        if self.on_reconnect is not None:
            self.on_reconnect()

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        names = list(channels)
        for attempt in range(2):  # the first command on a connection Redis dropped fails once
            try:
                await super().publish(data, names)
                return
            except self._errors as exc:
                if attempt:
                    log.warning("realtime.publish_failed error=%s: %s", type(exc).__name__, exc)

    async def _command(
        self, what: str, command: Callable[[list[str]], Awaitable[None]], names: list[str]
    ) -> bool:
        """One (un)subscribe under the command lock; False (logged) when Redis is unreachable."""
        try:
            async with self._commands:
                await command(names)
        except self._errors as exc:
            log.warning("realtime.%s_failed error=%s: %s", what, type(exc).__name__, exc)
            return False
        return True

    async def subscribe(self, channels: Iterable[str]) -> None:
        names = list(channels)
        if not await self._command("subscribe", super().subscribe, names):
            # Remember them: the reconnection subscribes them (and then resyncs the sockets).
            self._pub_sub.channels.update({name.encode(): None for name in names})
            self._has_subscribed.set()

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        names = list(channels)
        if not await self._command("unsubscribe", super().unsubscribe, names):
            for name in names:
                self._pub_sub.channels.pop(name.encode(), None)
            if not self._pub_sub.channels:
                self._has_subscribed.clear()

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        failures = 0
        while True:
            await self._has_subscribed.wait()
            try:
                message = await self._pub_sub.get_message(
                    ignore_subscribe_messages=True, timeout=self._stream_sleep_no_subscriptions
                )
            except self._errors as exc:
                failures += 1
                if failures == 1:
                    log.warning("realtime.redis_lost error=%s: %s", type(exc).__name__, exc)
                await asyncio.sleep(min(5.0, 0.1 * 2**failures))
                continue
            failures = 0
            if message is None:
                continue
            channel: str = message["channel"].decode()
            subscribed = self._pub_sub.channels.keys() - self._pub_sub.pending_unsubscribe_channels
            if channel.encode() in subscribed:
                yield channel, message["data"]


def make_channels_plugin(redis_url: str | None) -> ChannelsPlugin:
    if not redis_url:
        return ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True)
    from redis.asyncio import Redis

    backend = ResilientRedisPubSubBackend(redis=Redis.from_url(redis_url))
    plugin = ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True)

    def end_subscriptions() -> None:
        for subscribers in list(plugin._channels.values()):
            for subscriber in list(subscribers):
                subscriber.put_nowait(None)  # ends its iter_events(): the socket closes 1012

    backend.on_reconnect = end_subscriptions
    return plugin


class ChannelsPublisher:
    """The `Publisher` services' queued changes go through once their transaction commits."""

    def __init__(self, plugin: ChannelsPlugin) -> None:
        self._plugin = plugin

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        self._plugin.publish(json.dumps(message, separators=(",", ":")), channels=[channel])


class RedisPublisher:
    """Publishes straight to Redis from processes that serve no sockets (`watch`).

    Litestar's Redis pub/sub backend delivers raw channel messages, so a plain PUBLISH on the same
    channel name reaches every API process's subscribers. A failure is logged and dropped: the
    change is committed already, and the replicas resync their sockets when Redis is back.
    """

    def __init__(self, redis_url: str) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(redis_url)
        self._errors = _redis_errors()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":"))
        for attempt in range(2):  # the first command on a connection Redis dropped fails once
            try:
                await self._redis.publish(channel, data)
                return
            except self._errors as exc:
                if attempt:
                    log.warning("realtime.publish_failed error=%s: %s", type(exc).__name__, exc)
