"""create_app(config): the aiohttp application, wired from the parts in this package.

Two sets of routes: COMFY_ROUTE_MODULES, the ComfyUI-compatible API that ComfyUI clients
and node packs rely on, and the studio's own extras under /studio/... (presets, prompt
library, tags, locales, templates; the `studio_extras` package). Every route is registered
twice, at `/path` and `/api/path`, as ComfyUI does. The frontend's static files are served
at `/`, after the API routes.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Callable, Optional

from aiohttp import web

from executor.output_ledger import OutputLedger
from executor.prompt_queue import PromptQueue
from executor.queue_store import QueueStore
from executor.run import Executor
from nodes.folders import UnsafePathError, safe_join
from nodes.registry import REGISTRY as CORE_REGISTRY
from nodes.registry import NodeRegistry
from studio_extras import ROUTE_MODULES as STUDIO_ROUTE_MODULES

from . import (
    routes_app,
    routes_extensions,
    routes_files,
    routes_info,
    routes_internal,
    routes_jobs,
    routes_prompt,
    routes_templates,
    routes_users,
    websocket,
)
from .clients import ClientRegistry
from .config import ServerConfig
from .errors import ApiError
from .events import EventBridge
from .example_inputs import provide_example_inputs
from .previews import PreviewThrottle
from .security import error_middleware, origin_middleware
from .extensions import ServerExtensions
from .state import BRIDGE, CLIENTS, CONFIG, EXECUTOR, EXTENSIONS, FOLDERS, QUEUE, REGISTRY

log = logging.getLogger(__name__)
COMFY_ROUTE_MODULES = (
    routes_prompt,
    routes_jobs,
    routes_extensions,
    routes_files,
    routes_info,
    routes_app,
    routes_users,
    routes_internal,
    routes_templates,
    websocket,
)


def create_app(
    config: ServerConfig,
    registry: Optional[NodeRegistry] = None,
    prepare: Optional[Callable[[web.Application], None]] = None,
    runners: Optional[list] = None,
) -> web.Application:
    """Build the application; the queue worker starts with the app (config.start_worker).

    `prepare(app)` runs once the API routes are in and before the editor's catch-all route:
    the place to load node packs, whose routes must come before it. `runners` run the
    prompts instead of this process's executor (Ray workers, cluster/)."""
    registry = registry if registry is not None else CORE_REGISTRY
    folders = config.folders()
    for folder in (folders.input, folders.output, folders.temp):
        folder.mkdir(parents=True, exist_ok=True)
    provide_example_inputs(folders.input)
    executor = Executor(folders, registry=registry)
    clients = ClientRegistry()
    bridge = EventBridge(clients, PreviewThrottle(config.preview_interval_s))
    store = QueueStore(config.database_path, config.history_limit)
    ledger = OutputLedger(config.database_path.with_name(config.database_path.stem + "-outputs.sqlite3"))
    queue = PromptQueue(executor, store, listener=bridge, crash_retries=config.crash_retries, ledger=ledger,
                        runners=runners)

    app = web.Application(
        middlewares=[error_middleware, origin_middleware(config)],
        client_max_size=config.client_max_size,
    )
    app[CONFIG], app[FOLDERS], app[REGISTRY], app[EXECUTOR] = config, folders, registry, executor
    app[QUEUE], app[CLIENTS], app[BRIDGE] = queue, clients, bridge
    app[EXTENSIONS] = ServerExtensions()
    for module in (*COMFY_ROUTE_MODULES, *STUDIO_ROUTE_MODULES):
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app)  # a module's own state (stores, caches), before the app is frozen
        for method, path, handler in module.ROUTES:
            app.router.add_route(method, path, handler)
            app.router.add_route(method, "/api" + path, handler)
    if prepare is not None:
        prepare(app)
    _add_frontend(app, config)
    app.on_startup.append(_start)
    app.on_shutdown.append(_close_clients)
    app.on_cleanup.append(_stop)
    return app


def _add_frontend(app: web.Application, config: ServerConfig) -> None:
    if not config.frontend_dir.is_dir():
        log.warning("no frontend folder at %s; serving the API only", config.frontend_dir)
        return
    app.router.add_get("/{path:.*}", _frontend_file)


async def _frontend_file(request: web.Request) -> web.StreamResponse:
    """A file of the editor (index.html for `/`); names leaving the folder are refused."""
    name = request.match_info["path"] or "index.html"
    try:
        path = safe_join(request.app[CONFIG].frontend_dir, name)
    except UnsafePathError:
        raise ApiError(403, "forbidden_path", f"'{name}' leaves the frontend folder") from None
    if path.is_dir():
        path = path / "index.html"
    if not path.is_file() or any(part.startswith(".") for part in Path(name).parts):
        raise ApiError(404, "not_found", f"no file '{name}'")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def _start(app: web.Application) -> None:
    app[BRIDGE].attach(asyncio.get_running_loop())
    if app[CONFIG].start_worker:
        app[QUEUE].start()


async def _close_clients(app: web.Application) -> None:
    await app[CLIENTS].close_all()


async def _stop(app: web.Application) -> None:
    queue = app[QUEUE]
    await asyncio.to_thread(queue.stop)
    app[BRIDGE].attach(None)
    queue.store.close()
    if queue.ledger is not None:
        queue.ledger.close()
