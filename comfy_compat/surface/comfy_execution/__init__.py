"""ComfyUI's `comfy_execution` package: the names packs import from it."""
from typing import Any


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
