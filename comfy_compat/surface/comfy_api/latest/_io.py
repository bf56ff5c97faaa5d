"""`comfy_api.latest.io`: the types, Schema, ComfyNode and NodeOutput of the schema API."""
from typing import Any

from ._io_types import *  # noqa: F401,F403
from ._io_types import (  # noqa: F401
    Autogrow, Boolean, Combo, ComfyType, ComfyTypeI, ComfyTypeIO, Custom, DynamicCombo, DynamicInput, DynamicSlot,
    Float, FolderType, Hidden, Input, Int, MatchType, MultiCombo, MultiType, NumberDisplay, Output, RemoteOptions,
    String, UploadType, WidgetInput, comfytype,
)
from ._node import ComfyExtension, ComfyNode, NodeOutput, Schema  # noqa: F401


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback("comfy_api.latest._io", name)
