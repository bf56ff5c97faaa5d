"""GET /templates/{file}: the workflow templates ComfyUI's frontend shows in its template
browser (index.json, then {name}.json for the one picked).

With the `comfyui-workflow-templates` package installed, its files are served as ComfyUI
serves them. Without it, the browser lists the workflows that ship with this app, each
laid out as a UI graph so it opens there as it would in our editor, with a picture of
that graph as its thumbnail.
"""
from __future__ import annotations

import asyncio
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Optional

from aiohttp import web

from nodes.folders import UnsafePathError, lexical_join
from nodes.registry import object_info

from .api_to_ui import api_to_ui
from .config import REPO_DIR
from .errors import ApiError
from .state import FOLDERS, REGISTRY
from .template_thumbnails import graph_thumbnail

log = logging.getLogger(__name__)
SHIPPED_WORKFLOWS = REPO_DIR / "workflows"


@lru_cache(maxsize=1)
def package_assets() -> Optional[dict[str, str]]:
    """{file name: path} from the installed templates package, or None without it."""
    try:
        from comfyui_workflow_templates import get_asset_path, iter_templates
    except ImportError:
        return None
    assets: dict[str, str] = {}
    try:
        for entry in iter_templates():
            for asset in entry.assets:
                try:
                    assets[asset.filename] = get_asset_path(entry.template_id, asset.filename)
                except FileNotFoundError:
                    continue  # its media bundle is not installed
    except Exception as exc:
        log.warning("the workflow templates package could not be read: %s", exc)
        return None
    return assets or None


def _read_workflow(path: Path) -> Optional[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _shipped(folder: Path) -> list[str]:
    """The names of the shipped workflows that read as JSON objects."""
    return [path.stem for path in sorted(folder.glob("*.json")) if _read_workflow(path) is not None]


def shipped_index(folder: Path = SHIPPED_WORKFLOWS) -> list[dict]:
    templates = [{"name": name, "title": name.replace("_", " "), "description": name.replace("_", " "),
                  "mediaType": "image", "mediaSubtype": "webp"} for name in _shipped(folder)]
    return [{"moduleName": "default", "title": "SD Studio", "type": "image", "templates": templates}]


def shipped_template(registry, folders, name: str, folder: Path = SHIPPED_WORKFLOWS) -> Optional[dict]:
    try:
        data = _read_workflow(lexical_join(folder, f"{name}.json"))
    except UnsafePathError:
        return None
    if data is None:
        return None
    if isinstance(data.get("nodes"), list):
        return data
    classes = sorted({n.get("class_type") for n in data.values() if isinstance(n, dict)} & set(registry.names()))
    return api_to_ui(data, object_info(registry, folders, classes))


def _split(name: str) -> tuple[str, str]:
    """('txt2img', '.json') for txt2img.json, ('txt2img', '-1.webp') for its thumbnail."""
    if "/" in name or "\\" in name:
        return name, ""
    for kind in ("-1.webp", ".json"):
        if name.endswith(kind):
            return name[: -len(kind)], kind
    return name, ""


async def get_template_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["path"]
    assets = await asyncio.to_thread(package_assets)
    if assets is not None:
        if name not in assets:
            raise ApiError(404, "not_found", f"no template file '{name}'")
        return web.FileResponse(assets[name])
    if name == "index.json":
        return web.json_response(await asyncio.to_thread(shipped_index))
    stem, kind = _split(name)
    if kind in (".json", "-1.webp"):
        graph = await asyncio.to_thread(shipped_template, request.app[REGISTRY], request.app[FOLDERS], stem)
        if graph is not None and kind == ".json":
            return web.json_response(graph)
        if graph is not None:
            body = await asyncio.to_thread(graph_thumbnail, graph)
            return web.Response(body=body, content_type="image/webp", headers={"Cache-Control": "no-cache"})
    raise ApiError(404, "not_found", f"no template file '{name}'")


ROUTES = [("GET", "/templates/{path:.+}", get_template_file)]
