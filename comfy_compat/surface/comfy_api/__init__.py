"""ComfyUI's `comfy_api` package (the newer schema API for nodes)."""
from typing import Any


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
