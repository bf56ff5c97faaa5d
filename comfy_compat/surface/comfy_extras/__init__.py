"""ComfyUI's `comfy_extras` package: its node modules, as far as this app has them."""
from typing import Any


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
