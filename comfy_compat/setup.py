"""Loading packs into a running server or a headless run: the facade first (packs use it
at import), then the packs, then what they added (routes, web folders, hooks)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

from aiohttp import web

from nodes.folders import Folders
from nodes.registry import REGISTRY, NodeRegistry

from . import runtime
from .loader import LoadedPacks, PackReport, load_packs
from .server_surface import PromptServer, attach_routes


def load_into_server(app: web.Application, folder: Path,
                     loop: Optional[asyncio.AbstractEventLoop] = None) -> LoadedPacks:
    """For `create_app(prepare=...)`: bind PromptServer to `app`, load the packs in `folder`,
    and add their routes, web folders and on-prompt hooks to the app."""
    from server.state import BRIDGE, CONFIG, EXTENSIONS, FOLDERS, QUEUE, REGISTRY as REGISTRY_KEY

    runtime.bind_folders(app[FOLDERS])
    from comfy.cli_args import args, use_preview_method  # the surface is on sys.path once folders are bound

    use_preview_method(app[CONFIG].preview_method.value)
    args.port = app[CONFIG].port
    args.listen = ",".join(app[CONFIG].hosts)
    extensions = app[EXTENSIONS]
    facade = PromptServer(app, loop, bridge=app[BRIDGE], queue=app[QUEUE], on_prompt=extensions.on_prompt,
                          web_root=str(app[CONFIG].frontend_dir))

    async def remember_loop(_: web.Application) -> None:
        facade.loop = asyncio.get_running_loop()

    app.on_startup.append(remember_loop)
    loaded = load_packs(folder, app[REGISTRY_KEY])
    problems = attach_routes(facade, app)
    extensions.web_dirs.update(loaded.web_dirs)
    extensions.pack_dirs.update({report.name: Path(report.path) for report in loaded.reports
                                 if report.status == "loaded" and Path(report.path).is_dir()})
    extensions.packs[:] = [report.as_dict() for report in loaded.reports]
    if problems:
        routes = PackReport(name="(routes)", path="", status="failed", reason="; ".join(problems))
        extensions.packs.append(routes.as_dict())
    return loaded


def load_headless(folder: Path, folders: Folders, registry: NodeRegistry = REGISTRY) -> LoadedPacks:
    """For `main.py run` and `main.py nodes ...`: packs see a PromptServer that serves nothing."""
    runtime.bind_folders(folders)
    PromptServer()  # packs decorate routes at import; with no server, nothing serves them
    return load_packs(folder, registry)
