"""ComfyUI's ecosystem on this engine: custom node packs run unchanged.

The adapter lives here, at the edge: `surface/` holds the module names packs import
(`folder_paths`, `comfy.*`, `comfy_extras.*`, `comfy_execution.*`, `comfy_api.*`,
`node_helpers`, `latent_preview`, `execution`), backed by this engine; `v1_nodes` puts
V1 node classes behind the engine's node contract; `loader` imports the packs. The
engine never imports any of this; our own `nodes` and `server` packages forward the
names packs take from ComfyUI's `nodes` and `server` modules (MAX_RESOLUTION,
PromptServer, ...) to `surface.nodes_surface` and `surface.server_surface`.
"""
from __future__ import annotations

import sys
from pathlib import Path

SURFACE_DIR = Path(__file__).resolve().parent / "surface"


def install_surface() -> None:
    """Make ComfyUI's module names importable (idempotent)."""
    from .placeholders import install_finder

    path = str(SURFACE_DIR)
    if path not in sys.path:
        sys.path.insert(0, path)
    install_finder()
