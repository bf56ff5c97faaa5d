"""`comfy_api.latest`: ComfyUI's newer schema API for nodes (io, ui, ComfyExtension)."""
from typing import Any

from . import _io_public as io  # noqa: F401
from . import _ui_public as ui  # noqa: F401
from ._node import ComfyExtension  # noqa: F401

IO = io
UI = ui


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
