"""Packs written against ComfyUI's newer schema API: `comfy_entrypoint()` returns a
ComfyExtension whose `get_node_list()` names the node classes."""
from __future__ import annotations

from typing import Any, Optional

from .aio import run_sync as _run


def is_schema_node(cls: Any) -> bool:
    from comfy_api.latest._node import ComfyNode

    return isinstance(cls, type) and issubclass(cls, ComfyNode)


def schema_display_name(cls: Any) -> Optional[str]:
    return cls.GET_SCHEMA().display_name if is_schema_node(cls) else None


def node_classes_of_entrypoint(entrypoint: Any) -> tuple[dict[str, type], dict[str, str]]:
    """(node id -> class, node id -> display name) from a pack's comfy_entrypoint."""
    if not callable(entrypoint):
        raise TypeError("comfy_entrypoint is not callable")
    extension = _run(entrypoint())
    _run(extension.on_load())
    mappings: dict[str, type] = {}
    names: dict[str, str] = {}
    for cls in _run(extension.get_node_list()):
        schema = cls.GET_SCHEMA()
        mappings[schema.node_id] = cls
        if schema.display_name:
            names[schema.node_id] = schema.display_name
    return mappings, names
