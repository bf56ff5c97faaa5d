"""ComfyUI's `comfy` package as custom node packs use it, backed by this app's engine.

Submodules load on first attribute access (`import comfy` then `comfy.sd.X`), as they
are all loaded in ComfyUI by the time packs run."""
from typing import Any


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
