"""`GET /api/v1/user/orders/{id}/ws`: the order's snapshot, then every change, then close.

Subscribing happens before the snapshot is read, so a change committed in between is not missed
(at worst it is sent twice, which is harmless: frames carry the whole order).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.channels.subscriber import Subscriber
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath

from app.errors import AppError, OrderNotFound
from app.http import Services, services_of
from app.orders.models import TERMINAL_STATUSES, Order
from app.orders.service import order_view
from app.realtime.changes import order_channel
from app.security.rate_limit import client_of, deny_upgrade
from app.security.user_auth import authenticate_user, parse_order_id

log = logging.getLogger("app.realtime")


async def _deny(socket: WebSocket[Any, Any, Any], status: int, text: str) -> None:
    """Refuse the upgrade with a plain HTTP response, as Ocrch does; a close where unsupported."""
    await deny_upgrade(socket.scope, socket.send, status, text)


async def _close_with_error(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    """After the upgrade (api.md §3): an error frame, then a Close with the same code and reason."""
    frame = {"type": "error", "code": code, "reason": reason}
    await socket.send_text(json.dumps(frame, separators=(",", ":")))
    await socket.close(code=code, reason=reason)


async def _close_on_client_close(socket: WebSocket[Any, Any, Any], subscriber: Subscriber) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                break
    subscriber.put_nowait(None)


@websocket("/api/v1/user/orders/{order_id:str}/ws", name="order_socket")
async def order_socket(
    socket: WebSocket[Any, Any, Any],
    order_id: FromPath[str],
    channels: NamedDependency[ChannelsPlugin],
) -> None:
    services = services_of(socket.app.state)
    try:
        authenticate_user(
            services.settings,
            socket.headers,
            order_id,
            socket.query_params,
            base_url=str(socket.base_url),
        )
        oid = parse_order_id(order_id)
    except AppError as exc:
        await _deny(socket, exc.status_code, exc.message)
        return
    security = services.settings.security
    caps = {
        f"order:{oid}": security.websocket_max_per_order,
        f"client:{client_of(socket.scope, services.settings)}": security.websocket_max_per_client,
    }
    full = services.sockets.try_acquire(caps)
    if full is not None:
        which = "this order" if full.startswith("order:") else "this client"
        await _deny(socket, 429, f"too many open WebSockets for {which} (limit {caps[full]})")
        return
    try:
        await _serve(socket, services, oid, channels)
    finally:
        services.sockets.release(caps)


async def _serve(
    socket: WebSocket[Any, Any, Any], services: Services, oid: uuid.UUID, channels: ChannelsPlugin
) -> None:
    await socket.accept()
    async with channels.start_subscription([order_channel(oid)]) as subscriber:
        try:
            async with services.sessionmaker() as session:
                order = await session.get(Order, oid)
                view = await order_view(session, services.settings, order) if order else None
        except Exception:
            log.exception("realtime.snapshot_failed order_id=%s", oid)
            await _close_with_error(socket, 1011, "internal error")
            return
        if order is None:
            await _close_with_error(socket, 4004, OrderNotFound().message)
            return
        snapshot = {"type": "status_update", "order": view}
        await socket.send_text(json.dumps(snapshot, separators=(",", ":")))
        if order.status in TERMINAL_STATUSES:
            await socket.close(code=1000)
            return
        watcher = asyncio.create_task(_close_on_client_close(socket, subscriber))
        try:
            async for event in subscriber.iter_events():
                await socket.send_text(event.decode())
                if json.loads(event).get("order", {}).get("status") in TERMINAL_STATUSES:
                    await socket.close(code=1000)
                    break
            else:
                # The client left, or Redis came back and the subscription was ended so that the
                # page reconnects and reads what it may have missed: 1012, "come back".
                await socket.close(code=1012, reason="reconnect")
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            watcher.cancel()
