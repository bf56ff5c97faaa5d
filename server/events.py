"""The bridge from the queue's events (any thread) to WebSocket clients (the loop thread).

JSON is encoded once per event on the calling thread, then handed to the loop with
`call_soon_threadsafe`, which keeps the events of a prompt in the order they happened.
For each client with a prompt running, the latest `executing` and `progress` messages are
kept, so a client that reconnects (a reloaded browser tab) sees at once where its prompt is.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Callable, Optional

from .clients import ClientRegistry
from .previews import PreviewThrottle, encode_png_frame

# Events that end a client's running prompt (its kept progress is dropped).
_RUN_ENDS = ("execution_success", "execution_error", "execution_interrupted")

log = logging.getLogger(__name__)


class EventBridge:
    """Callable as the PromptQueue's listener: `(kind, data, client_id)`."""

    def __init__(self, clients: ClientRegistry, throttle: PreviewThrottle) -> None:
        self.clients = clients
        self.throttle = throttle
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._running: dict[str, dict[str, str]] = {}  # client -> {"start"|"executing"|"progress": text}; loop thread

    def attach(self, loop: Optional[asyncio.AbstractEventLoop]) -> None:
        self._loop = loop

    def __call__(self, kind: str, data: dict, client_id: Optional[str]) -> None:
        if kind == "preview":
            frame = self.throttle.frame(str(data.get("prompt_id", "")), data.get("image"))
            if frame is not None:
                self._post(self.clients.publish_bytes, frame, client_id)
            return
        if kind == "image":
            if data.get("image") is not None:
                self._post(self.clients.publish_bytes, encode_png_frame(data["image"]), client_id)
            return
        text = json.dumps({"type": kind, "data": data}, default=str)
        self._post(self._publish_text, (kind, data.get("node", "") if kind == "executing" else "", text), client_id)

    def _publish_text(self, item: tuple, client_id: Optional[str]) -> None:
        kind, node, text = item
        if client_id is not None:
            self._remember(kind, node, text, client_id)
        self.clients.publish_text(text, client_id)

    def _remember(self, kind: str, node: Any, text: str, client_id: str) -> None:
        if kind == "execution_start":
            self._running[client_id] = {"start": text}
        elif kind == "executing" and node is None or kind in _RUN_ENDS:
            self._running.pop(client_id, None)
        elif kind == "executing":
            state = self._running.setdefault(client_id, {})
            state["executing"] = text
            state.pop("progress", None)
        elif kind == "progress" and client_id in self._running:
            self._running[client_id]["progress"] = text

    def replay(self, client_id: str) -> list[str]:
        """The messages that tell a reconnecting client where its running prompt is (loop thread)."""
        state = self._running.get(client_id, {})
        return [state[key] for key in ("start", "executing", "progress") if key in state]

    def send_bytes(self, frame: bytes, client_id: Optional[str]) -> None:
        """A binary frame (any thread) to one client, or to all."""
        self._post(self.clients.publish_bytes, frame, client_id)

    def _post(self, publish: Callable[..., None], message: Any, client_id: Optional[str]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(publish, message, client_id)
        except RuntimeError:  # the loop closed between the check and the call
            log.debug("event dropped: event loop closed")


def status_message(queue_status: dict, sid: Optional[str] = None) -> str:
    """The `status` message; on connect it also tells the client its session id."""
    data = dict(queue_status)
    if sid is not None:
        data["sid"] = sid
    return json.dumps({"type": "status", "data": data})
