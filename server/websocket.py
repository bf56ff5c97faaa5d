"""GET /ws?clientId=: the WebSocket that carries status, progress, results and previews.

A client without an id gets one; it comes back as `sid` in the first `status` message.
Prompts queued with that id as `client_id` send their events to this client only.
A client's `feature_flags` message is answered with the server's.
"""
from __future__ import annotations

import json
import uuid

from aiohttp import WSMsgType, web

from .errors import ApiError
from .events import status_message
from .features import server_features
from .prompt_envelope import client_id_problem
from .state import BRIDGE, CLIENTS, CONFIG, LOGS, QUEUE

async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    sid = request.query.get("clientId") or uuid.uuid4().hex
    if problem := client_id_problem(sid):
        raise ApiError(400, "invalid_request", f"'clientId' {problem}")
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=1024 * 1024)
    await ws.prepare(request)
    clients = request.app[CLIENTS]
    client = clients.add(sid, ws)
    client.offer(status_message(request.app[QUEUE].status(), sid))
    for text in request.app[BRIDGE].replay(sid):  # a reloaded page: where its prompt is now
        client.offer(text)
    try:
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
            if message.type == WSMsgType.TEXT and _asks_features(message.data):
                reply = {"type": "feature_flags", "data": server_features(request.app[CONFIG])}
                client.offer(json.dumps(reply))
    finally:
        clients.remove(client)
        if sid not in clients:  # not replaced by a reconnect with the same id
            request.app[LOGS].subscribe(sid, False)
    return ws


def _asks_features(text: str) -> bool:
    """ComfyUI's frontend opens with its own `feature_flags`; the server answers with its own."""
    try:
        return json.loads(text).get("type") == "feature_flags"
    except (ValueError, AttributeError):
        return False


ROUTES = [("GET", "/ws", websocket_handler)]
