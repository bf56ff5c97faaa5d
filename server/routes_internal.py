"""ComfyUI's /internal routes, which its frontend uses for the log panel and file pickers.

GET   /internal/logs            -> the recent log lines as one string
GET   /internal/logs/raw        -> {"entries": [{"t", "m"}], "size": {"cols", "rows"}}
PATCH /internal/logs/subscribe  {"clientId", "enabled"} -> `logs` WebSocket messages on or off
GET   /internal/folder_paths    -> {model folder name: [its folders]}
GET   /internal/files/{input|output|temp} -> file names there, newest first
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from aiohttp import web

from .app_logs import LogBuffer, terminal_size
from .errors import ApiError, expect, read_json_object
from .state import BRIDGE, FOLDERS, LOGS

FILE_FOLDERS = ("input", "output", "temp")


def setup(app: web.Application) -> None:
    app[LOGS] = LogBuffer()
    app.on_startup.append(_attach_logs)
    app.on_cleanup.append(_detach_logs)


async def _attach_logs(app: web.Application) -> None:
    buffer = app[LOGS]
    buffer.sink = app[BRIDGE]
    logging.getLogger().addHandler(buffer)


async def _detach_logs(app: web.Application) -> None:
    logging.getLogger().removeHandler(app[LOGS])
    app[LOGS].sink = None


async def get_logs(request: web.Request) -> web.Response:
    return web.json_response(request.app[LOGS].text())


async def get_raw_logs(request: web.Request) -> web.Response:
    return web.json_response({"entries": request.app[LOGS].recent(), "size": terminal_size()})


async def subscribe_logs(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    client_id = expect(body, "clientId", str)
    enabled = expect(body, "enabled", bool)
    if not client_id or enabled is None:
        raise ApiError(400, "invalid_request", "'clientId' (a string) and 'enabled' (a boolean) are required")
    request.app[LOGS].subscribe(client_id, enabled)
    return web.Response(status=200)


async def get_folder_paths(request: web.Request) -> web.Response:
    table = request.app[FOLDERS].model_folders
    return web.json_response({name: list(paths) for name, (paths, _) in table.items()})


def newest_first(folder: Path) -> list[str]:
    """Visible files directly in `folder`, newest first."""
    try:
        entries = [e for e in os.scandir(folder) if e.is_file() and not e.name.startswith(".")]
    except FileNotFoundError:
        return []
    entries.sort(key=lambda e: -e.stat().st_mtime)
    return [e.name for e in entries]


async def get_files(request: web.Request) -> web.Response:
    kind = request.match_info["directory_type"]
    if kind not in FILE_FOLDERS:
        raise ApiError(400, "invalid_request", f"Invalid directory type '{kind}': one of {', '.join(FILE_FOLDERS)}")
    return web.json_response(await asyncio.to_thread(newest_first, request.app[FOLDERS].by_type(kind)))


ROUTES = [
    ("GET", "/internal/logs", get_logs),
    ("GET", "/internal/logs/raw", get_raw_logs),
    ("PATCH", "/internal/logs/subscribe", subscribe_logs),
    ("GET", "/internal/folder_paths", get_folder_paths),
    ("GET", "/internal/files/{directory_type}", get_files),
]
