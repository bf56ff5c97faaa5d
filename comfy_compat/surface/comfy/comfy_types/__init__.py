"""ComfyUI's `comfy.comfy_types`: typing helpers for node definitions."""
from typing import Any

from comfy.comfy_types.node_typing import IO, ComfyNodeABC, InputTypeDict  # noqa: F401


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
