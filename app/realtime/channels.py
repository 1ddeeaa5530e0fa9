"""Pub/sub through Litestar's Channels plugin: in memory in one process, Redis across many."""

from __future__ import annotations

import json
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend


def make_channels_plugin(redis_url: str | None) -> ChannelsPlugin:
    if redis_url:
        from redis.asyncio import Redis

        backend: Any = RedisChannelsPubSubBackend(redis=Redis.from_url(redis_url))
    else:
        backend = MemoryChannelsBackend()
    return ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True)


class ChannelsPublisher:
    """The `Publisher` services' queued changes go through once their transaction commits."""

    def __init__(self, plugin: ChannelsPlugin) -> None:
        self._plugin = plugin

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        self._plugin.publish(json.dumps(message, separators=(",", ":")), channels=[channel])


class RedisPublisher:
    """Publishes straight to Redis from processes that serve no sockets (`watch`).

    Litestar's Redis pub/sub backend delivers raw channel messages, so a plain PUBLISH on the same
    channel name reaches every API process's subscribers.
    """

    def __init__(self, redis_url: str) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(redis_url)

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self._redis.publish(channel, json.dumps(message, separators=(",", ":")))
