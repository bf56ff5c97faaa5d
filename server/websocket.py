"""GET /ws?clientId=: the WebSocket that carries status, progress, results and previews.

A client without an id gets one; it comes back as `sid` in the first `status` message.
Prompts queued with that id as `client_id` send their events to this client only.
"""
from __future__ import annotations

import uuid

from aiohttp import WSMsgType, web

from .errors import ApiError
from .events import status_message
from .state import CLIENTS, QUEUE

MAX_CLIENT_ID = 128


async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    sid = request.query.get("clientId") or uuid.uuid4().hex
    if len(sid) > MAX_CLIENT_ID or not sid.isprintable():
        raise ApiError(400, "invalid_request", f"'clientId' must be at most {MAX_CLIENT_ID} printable characters")
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=1024 * 1024)
    await ws.prepare(request)
    clients = request.app[CLIENTS]
    client = clients.add(sid, ws)
    client.offer(status_message(request.app[QUEUE].status(), sid))
    try:
        async for message in ws:  # clients may talk; nothing they say is needed yet
            if message.type == WSMsgType.ERROR:
                break
    finally:
        clients.remove(client)
    return ws


ROUTES = [("GET", "/ws", websocket_handler)]
