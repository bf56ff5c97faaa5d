"""GET /studio/packs: how each custom node pack loaded (nodes, failures and why), for the
editor's pack report."""
from __future__ import annotations

from aiohttp import web

from server.state import EXTENSIONS


async def get_packs(request: web.Request) -> web.Response:
    return web.json_response(request.app[EXTENSIONS].packs)


ROUTES = [("GET", "/studio/packs", get_packs)]
