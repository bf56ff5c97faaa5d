"""ComfyUI's `server` module as packs use it: `PromptServer.instance` (routes, app, loop,
send_sync, client_id, last_node_id, on-prompt handlers) and `BinaryEventTypes`.

The instance exists before packs import (they decorate routes at module level). In the
server it is bound to the real application; for `main.py run` and `nodes list` it
holds a bare application that is never served, so importing a pack works the same.
"""
from __future__ import annotations

import asyncio
import io
import logging
import struct
from typing import Any, Optional

from aiohttp import web

from . import runtime

log = logging.getLogger(__name__)


class BinaryEventTypes:
    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4


class _QueueView:
    """The parts of ComfyUI's PromptQueue that packs read."""

    def __init__(self, queue: Any = None) -> None:
        self._queue = queue

    def get_current_queue(self) -> tuple[list, list]:
        return self._queue.snapshot() if self._queue is not None else ([], [])

    def get_current_queue_volatile(self) -> tuple[list, list]:
        return self.get_current_queue()

    def get_tasks_remaining(self) -> int:
        return self._queue.remaining() if self._queue is not None else 0

    def wipe_queue(self) -> None:
        if self._queue is not None:
            self._queue.clear()

    def delete_queue_item(self, function) -> bool:
        if self._queue is None:
            return False
        _, pending = self._queue.snapshot()
        doomed = [item[1] for item in pending if function(item)]
        return self._queue.delete(doomed) > 0

    def get_history(self, prompt_id: Optional[str] = None, max_items: Optional[int] = None, offset: int = -1):
        if self._queue is None:
            return {}
        store = self._queue.store
        if prompt_id is not None:
            entry = store.history_entry(prompt_id)
            return {prompt_id: entry} if entry else {}
        return store.history(max_items)


class PromptServer:
    """The facade packs reach as `server.PromptServer.instance`."""

    instance: Optional["PromptServer"] = None

    def __init__(self, app: Optional[web.Application] = None, loop: Optional[asyncio.AbstractEventLoop] = None,
                 bridge: Any = None, queue: Any = None, on_prompt: Optional[list] = None,
                 web_root: Optional[str] = None) -> None:
        PromptServer.instance = self
        self.app = app if app is not None else web.Application()
        self.loop = loop
        self.routes = web.RouteTableDef()
        self.prompt_queue = _QueueView(queue)
        self.on_prompt_handlers = on_prompt if on_prompt is not None else []
        self.supports = ["custom_nodes_from_web"]
        self.web_root = web_root
        self.number = 0
        self.last_prompt_id: Optional[str] = None
        self.sockets: dict = {}
        self.sockets_metadata: dict = {}
        self.user_manager = None
        self._bridge = bridge

    # -- who is running ------------------------------------------------------------

    @property
    def client_id(self) -> Optional[str]:
        ctx = runtime.current()
        return ctx.extra_data.get("client_id") if ctx is not None else None

    @client_id.setter
    def client_id(self, value: Optional[str]) -> None:  # ComfyUI's executor sets it; here it is derived
        pass

    @property
    def last_node_id(self) -> Optional[str]:
        ctx = runtime.current()
        return ctx.node_id if ctx is not None else None

    @last_node_id.setter
    def last_node_id(self, value: Optional[str]) -> None:
        pass

    # -- events --------------------------------------------------------------------

    def send_sync(self, event: Any, data: Any, sid: Optional[str] = None) -> None:
        """Send a JSON event (or a binary one: BinaryEventTypes) to a client, or to all."""
        if self._bridge is None:
            log.debug("no server: event %s not sent", event)
            return
        if isinstance(event, int):
            frame = binary_frame(event, data)
            if frame is not None:
                self._bridge.send_bytes(frame, sid)
            return
        self._bridge(str(event), data, sid)

    async def send(self, event: Any, data: Any, sid: Optional[str] = None) -> None:
        self.send_sync(event, data, sid)

    async def send_json(self, event: Any, data: Any, sid: Optional[str] = None) -> None:
        self.send_sync(event, data, sid)

    async def send_bytes(self, event: int, data: Any, sid: Optional[str] = None) -> None:
        self.send_sync(event, data, sid)

    def queue_updated(self) -> None:
        pass

    # -- prompts and routes ----------------------------------------------------------

    def add_on_prompt_handler(self, handler) -> None:
        self.on_prompt_handlers.append(handler)

    def trigger_on_prompt(self, json_data: dict) -> dict:
        from server.extensions import run_prompt_hooks

        return run_prompt_hooks(self.on_prompt_handlers, json_data)

    def add_routes(self) -> None:
        """ComfyUI calls this itself once packs are in; here the app does (see attach_routes)."""


def binary_frame(event: int, data: Any) -> Optional[bytes]:
    """ComfyUI's binary WebSocket frame for a preview event."""
    if event in (BinaryEventTypes.PREVIEW_IMAGE, BinaryEventTypes.UNENCODED_PREVIEW_IMAGE):
        if event == BinaryEventTypes.UNENCODED_PREVIEW_IMAGE or not isinstance(data, (bytes, bytearray)):
            kind, image, max_size = (list(data) + [None, None, None])[:3]
            if max_size:
                image = image.copy()
                image.thumbnail((max_size, max_size))
            fmt = str(kind or "JPEG").upper()
            buffer = io.BytesIO()
            (image.convert("RGB") if fmt == "JPEG" else image).save(buffer, format=fmt, quality=95)
            code = 1 if fmt == "JPEG" else 2
            return struct.pack(">II", BinaryEventTypes.PREVIEW_IMAGE, code) + buffer.getvalue()
        return struct.pack(">I", event) + bytes(data)
    if isinstance(data, (bytes, bytearray)):
        return struct.pack(">I", int(event)) + bytes(data)
    if isinstance(data, str):
        return struct.pack(">I", int(event)) + data.encode()
    return None


def attach_routes(server: PromptServer, app: web.Application) -> list[str]:
    """Add the routes packs declared on `server.routes` to `app`, each also under /api (as
    ComfyUI does); a route that clashes with an existing one is refused and reported."""
    problems = []
    for route in list(server.routes):
        variants = [route]
        if isinstance(route, web.RouteDef) and not route.path.startswith("/api/"):
            variants.append(web.RouteDef(route.method, "/api" + route.path, route.handler, route.kwargs))
        for variant in variants:
            try:
                app.router.add_routes([variant])
            except (RuntimeError, ValueError) as exc:
                problems.append(f"{variant}: {exc}")
                log.warning("a custom node route was not added: %s (%s)", variant, exc)
    return problems
