"""The app routes ComfyUI's frontend reads besides the core API: server features, model
folders with file details, and what node packs ship (translations, example workflows,
subgraph blueprints).

GET /features                       -> {"supports_preview_metadata", "max_upload_size"}
GET /experiment/models              -> [{"name", "folders"}]
GET /experiment/models/{folder}     -> [{"name", "pathIndex", "modified", "created", "size"}]
GET /experiment/models/preview/{folder}/{path_index}/{file} -> the model's picture as webp
GET /i18n                           -> {language: translations from packs' locales/}
GET /workflow_templates             -> {pack: [example workflow names]}
GET /workflow_templates/{pack}/{file} -> one example workflow
GET /global_subgraphs[/{id}]        -> {id: {"source", "name", "info"}} / one with "data"
"""
from __future__ import annotations

import asyncio
import io
import mimetypes
from pathlib import Path
from typing import Optional

from aiohttp import web
from PIL import Image

from nodes.folders import UnsafePathError, lexical_join

from . import pack_content
from .errors import ApiError
from .features import server_features
from .state import CONFIG, EXTENSIONS, FOLDERS

HIDDEN_FOLDERS = ("configs", "custom_nodes")


async def get_features(request: web.Request) -> web.Response:
    return web.json_response(server_features(request.app[CONFIG]))


async def get_model_folders(request: web.Request) -> web.Response:
    table = request.app[FOLDERS].model_folders
    return web.json_response([{"name": name, "folders": list(paths)}
                              for name, (paths, _) in table.items() if name not in HIDDEN_FOLDERS])


def model_file_details(folders, kind: str) -> list[dict]:
    """Each model file of a kind with the index of the folder it is in and its times and size."""
    out = []
    names = set(folders.list_models(kind))
    for index, root in enumerate(folders.model_dirs(kind)):
        for name in sorted(names):
            path = Path(root) / name
            if path.exists():
                st = path.stat()
                out.append({"name": name, "pathIndex": index, "modified": st.st_mtime,
                            "created": st.st_ctime, "size": st.st_size})
                names.discard(name)
    return out


PREVIEW_SUFFIXES = (".webp", ".png", ".jpg", ".jpeg", ".preview.png", ".preview.jpg", ".preview.webp")


def model_preview(folders, kind: str, index: int, name: str) -> Optional[bytes]:
    """The picture kept beside a model (`x.png`, `x.preview.png`, ...) as webp, or None."""
    roots = folders.model_dirs(kind)
    if not 0 <= index < len(roots):
        return None
    try:
        model = lexical_join(Path(roots[index]), name)
    except UnsafePathError:
        return None
    stem = model.with_suffix("")
    for suffix in PREVIEW_SUFFIXES:
        picture = stem.parent / (stem.name + suffix)
        if picture.is_file():
            try:
                with Image.open(picture) as image:
                    out = io.BytesIO()
                    image.convert("RGBA").save(out, format="WEBP")
                    return out.getvalue()
            except Exception:
                return None
    return None


async def get_model_preview(request: web.Request) -> web.Response:
    kind, index = request.match_info["folder"], request.match_info["path_index"]
    folders = request.app[FOLDERS]
    if kind not in folders.model_folders or not (index.isascii() and index.isdigit()):
        raise ApiError(404, "not_found", f"no model folder '{kind}'")
    body = await asyncio.to_thread(model_preview, folders, kind, int(index), request.match_info["filename"])
    if body is None:
        raise ApiError(404, "not_found", "no preview picture for that model")
    return web.Response(body=body, content_type="image/webp")


async def get_model_files(request: web.Request) -> web.Response:
    kind = request.match_info["folder"]
    folders = request.app[FOLDERS]
    if kind not in folders.model_folders:
        raise ApiError(404, "not_found", f"no model folder '{kind}'")
    return web.json_response(await asyncio.to_thread(model_file_details, folders, kind))


def _pack_dirs(request: web.Request) -> dict[str, Path]:
    return request.app[EXTENSIONS].pack_dirs


async def get_i18n(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(pack_content.pack_translations, _pack_dirs(request)))


async def get_workflow_templates(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(pack_content.pack_workflow_templates, _pack_dirs(request)))


async def get_workflow_template(request: web.Request) -> web.StreamResponse:
    pack, name = request.match_info["pack"], request.match_info["file"]
    path = pack_content.example_file(_pack_dirs(request), pack, name)
    if path is None:
        raise ApiError(404, "not_found", f"no example workflow '{name}' in '{pack}'")
    content_type = mimetypes.guess_type(path.name)[0] or "application/json"
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "no-cache",
                                           "X-Content-Type-Options": "nosniff"})


async def get_global_subgraphs(request: web.Request) -> web.Response:
    entries = await asyncio.to_thread(pack_content.pack_subgraphs, _pack_dirs(request))
    return web.json_response(pack_content.subgraph_listing(entries))


async def get_global_subgraph(request: web.Request) -> web.Response:
    entries = await asyncio.to_thread(pack_content.pack_subgraphs, _pack_dirs(request))
    entry = entries.get(request.match_info["id"])
    shown = await asyncio.to_thread(pack_content.subgraph_with_data, entry) if entry is not None else None
    if shown is None:
        raise ApiError(404, "not_found", "no such subgraph")
    return web.json_response(shown)


ROUTES = [
    ("GET", "/features", get_features),
    ("GET", "/experiment/models", get_model_folders),
    ("GET", "/experiment/models/{folder}", get_model_files),
    ("GET", "/experiment/models/preview/{folder}/{path_index}/{filename:.+}", get_model_preview),
    ("GET", "/i18n", get_i18n),
    ("GET", "/workflow_templates", get_workflow_templates),
    ("GET", "/workflow_templates/{pack}/{file}", get_workflow_template),
    ("GET", "/global_subgraphs", get_global_subgraphs),
    ("GET", "/global_subgraphs/{id}", get_global_subgraph),
]
