"""The workflows that ship in `workflows/`, listed as templates for the editor.

GET /studio/workflows -> [{"name", "title", "format"}]; GET /studio/workflows/{name} -> the JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from nodes.folders import UnsafePathError, safe_join
from server.config import REPO_DIR
from server.errors import ApiError

WORKFLOWS_DIR = REPO_DIR / "workflows"


def _format(data: object) -> str:
    return "ui" if isinstance(data, dict) and isinstance(data.get("nodes"), list) else "api"


def list_workflows(folder: Path = WORKFLOWS_DIR) -> list[dict]:
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out.append({"name": path.name, "title": path.stem.replace("_", " "), "format": _format(data)})
    return out


async def get_workflows(request: web.Request) -> web.Response:
    return web.json_response(list_workflows())


async def get_workflow(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        path = safe_join(WORKFLOWS_DIR, name)
    except UnsafePathError:
        raise ApiError(403, "forbidden_path", f"'{name}' leaves the workflows folder") from None
    if path.suffix != ".json" or not path.is_file():
        raise ApiError(404, "not_found", f"no workflow '{name}'")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ApiError(500, "bad_workflow", f"'{name}' is not valid JSON: {exc}") from None
    return web.json_response(data)


ROUTES = [
    ("GET", "/studio/workflows", get_workflows),
    ("GET", "/studio/workflows/{name}", get_workflow),
]
