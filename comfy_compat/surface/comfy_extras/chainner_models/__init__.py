"""ComfyUI's `comfy_extras.chainner_models` package."""
from typing import Any


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
