"""Web extensions of node packs: GET /extensions lists their scripts (as ComfyUI does),
/extensions/<pack>/<path> serves their files (never outside the pack's web folder)."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from nodes.folders import UnsafePathError, safe_join

from .errors import ApiError
from .state import CONFIG, EXTENSIONS


def extension_scripts(web_dirs: dict[str, Path]) -> list[str]:
    urls = []
    for name, folder in web_dirs.items():
        for path in sorted(folder.rglob("*.js")):
            if path.is_file():
                relative = path.relative_to(folder).as_posix()
                urls.append(f"/extensions/{quote(name)}/{quote(relative)}")
    return urls


def frontend_extensions(frontend_dir: Path) -> list[str]:
    """Scripts the frontend itself keeps in its extensions/ folder (ComfyUI's frontend has its
    core extensions there; the studio's editor has none)."""
    folder = frontend_dir / "extensions"
    if not folder.is_dir():
        return []
    return [f"/extensions/{quote(p.relative_to(folder).as_posix())}" for p in sorted(folder.rglob("*.js")) if p.is_file()]


async def get_extensions(request: web.Request) -> web.Response:
    scripts = frontend_extensions(request.app[CONFIG].frontend_dir)
    return web.json_response(scripts + extension_scripts(request.app[EXTENSIONS].web_dirs))


async def get_extension_file(request: web.Request) -> web.StreamResponse:
    pack, name = request.match_info["pack"], request.match_info["path"]
    folder = request.app[EXTENSIONS].web_dirs.get(pack)
    if folder is None:  # the frontend's own extensions (ComfyUI's frontend: extensions/core/)
        folder = request.app[CONFIG].frontend_dir / "extensions" / pack
        if not folder.is_dir() or pack.startswith("."):
            raise ApiError(404, "not_found", f"no web extension '{pack}'")
    try:
        path = safe_join(folder, name)
    except UnsafePathError:
        raise ApiError(403, "forbidden_path", f"'{name}' leaves the extension's folder") from None
    if not path.is_file():
        raise ApiError(404, "not_found", f"no file '{name}' in extension '{pack}'")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


ROUTES = [
    ("GET", "/extensions", get_extensions),
    ("GET", "/extensions/{pack}/{path:.+}", get_extension_file),
]
