"""Connected WebSocket clients and the fan-out of messages to them.

Each client has its own bounded outbox drained by its own task, so publishing to fifty
clients is fifty `put_nowait` calls and one slow client never holds up the others. A
client that falls too far behind is disconnected; preview frames are simply skipped
for a client that is still sending earlier messages.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional, Union

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)

Message = Union[str, bytes]


class Client:
    """One WebSocket connection and its outbox."""

    def __init__(self, sid: str, ws: web.WebSocketResponse, backlog: int) -> None:
        self.sid = sid
        self.ws = ws
        self.outbox: "asyncio.Queue[Optional[Message]]" = asyncio.Queue(maxsize=backlog)
        self.task = asyncio.get_running_loop().create_task(self._drain(), name=f"ws-send-{sid}")

    def offer(self, message: Message) -> bool:
        """Queue a message; False when the outbox is full (the client is too slow)."""
        try:
            self.outbox.put_nowait(message)
            return True
        except asyncio.QueueFull:
            return False

    async def _drain(self) -> None:
        while True:
            message = await self.outbox.get()
            if message is None or self.ws.closed:
                return
            try:
                if isinstance(message, bytes):
                    await self.ws.send_bytes(message)
                else:
                    await self.ws.send_str(message)
            except (ConnectionError, RuntimeError):  # closed under us
                return

    async def close(self) -> None:
        self.task.cancel()
        if not self.ws.closed:
            await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


class ClientRegistry:
    """Clients by session id (a reconnecting client with the same id replaces the old one).

    All methods run on the event loop thread."""

    def __init__(self, backlog: int = 4096, preview_backlog: int = 8) -> None:
        self.backlog = backlog
        self.preview_backlog = preview_backlog
        self._clients: dict[str, Client] = {}
        self._closing: set[asyncio.Task] = set()  # closes of dropped clients, kept until done

    def __len__(self) -> int:
        return len(self._clients)

    def __contains__(self, sid: str) -> bool:
        return sid in self._clients

    def add(self, sid: str, ws: web.WebSocketResponse) -> Client:
        client = Client(sid, ws, self.backlog)
        self._clients[sid] = client
        return client

    def remove(self, client: Client) -> None:
        if self._clients.get(client.sid) is client:
            del self._clients[client.sid]
        client.offer(None)

    def publish_text(self, text: str, sid: Optional[str] = None) -> None:
        """Send to one client (`sid`) or to everyone (None)."""
        for client in self._targets(sid):
            if not client.offer(text):
                log.warning("websocket client %s is too slow; disconnecting it", client.sid)
                self.remove(client)
                client.task.cancel()
                task = asyncio.get_running_loop().create_task(client.ws.close(code=WSCloseCode.TRY_AGAIN_LATER))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    def publish_bytes(self, data: bytes, sid: Optional[str] = None) -> None:
        """Binary frames (previews) are dropped for clients with a backlog."""
        for client in self._targets(sid):
            if client.outbox.qsize() < self.preview_backlog:
                client.offer(data)

    def _targets(self, sid: Optional[str]) -> list[Client]:
        if sid is None:
            return list(self._clients.values())
        client = self._clients.get(sid)
        return [client] if client is not None else []

    async def close_all(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.close()
