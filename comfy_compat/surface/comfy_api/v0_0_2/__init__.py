"""A versioned name of ComfyUI's schema API; the same as `comfy_api.latest` here."""
from typing import Any
from comfy_api.latest import IO, UI, ComfyExtension, io, ui  # noqa: F401


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
