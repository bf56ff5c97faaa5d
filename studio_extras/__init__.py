"""The studio's own extras beside the ComfyUI-compatible API: model presets, the prompt
library, autocomplete tag lists, UI locales, the shipped workflow templates and the
node packs' load report.

They are all served under /studio/..., so `server/` stays exactly the HTTP surface ComfyUI
clients rely on and can be tested and frozen on its own. Each route module has
`ROUTES = [(method, path, handler)]` and may have `setup(app)`; `server.app` registers them.

ROUTE_MODULES is imported on first use, so the data modules (tag_lists, locales...) load
without aiohttp and the executor, as scripts and tests use them.
"""
from __future__ import annotations

from types import ModuleType


def __getattr__(name: str) -> tuple[ModuleType, ...]:
    if name == "ROUTE_MODULES":
        from . import routes_editor_data, routes_packs, routes_presets, routes_workflows

        return (routes_workflows, routes_presets, routes_editor_data, routes_packs)
    raise AttributeError(f"module 'studio_extras' has no attribute {name!r}")
