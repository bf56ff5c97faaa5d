"""ComfyUI's `comfy_execution.graph_utils`: is_link, ExecutionBlocker, GraphBuilder.

GraphBuilder builds API-format node dicts; returning one as `expand` from a node (node
expansion) is refused by this app's executor with a message that says so.
"""
from __future__ import annotations

from typing import Any, Optional

from nodes.spec import ExecutionBlocker  # the engine's own: blockers stop downstream nodes

__all__ = ["is_link", "ExecutionBlocker", "GraphBuilder", "Node", "add_graph_prefix"]


def is_link(obj: Any) -> bool:
    if not isinstance(obj, list) or len(obj) != 2:
        return False
    return isinstance(obj[0], str) and isinstance(obj[1], int) and not isinstance(obj[1], bool)


class Node:
    """One node of a built graph; `out(i)` is a link to its output i."""

    def __init__(self, id: str, class_type: str, inputs: dict) -> None:
        self.id = id
        self.class_type = class_type
        self.inputs = inputs
        self.override_display_id: Optional[str] = None

    def out(self, index: int) -> list:
        return [self.id, index]

    def set_input(self, key: str, value: Any) -> None:
        if value is None:
            self.inputs.pop(key, None)
        else:
            self.inputs[key] = value

    def get_input(self, key: str) -> Any:
        return self.inputs.get(key)

    def set_override_display_id(self, override_display_id: str) -> None:
        self.override_display_id = override_display_id

    def serialize(self) -> dict:
        out = {"class_type": self.class_type, "inputs": self.inputs}
        if self.override_display_id is not None:
            out["override_display_id"] = self.override_display_id
        return out


class GraphBuilder:
    """Builds a small API-format graph with unique ids under a prefix."""

    _default_prefix_root = ""
    _default_prefix_call_index = 0
    _default_prefix_graph_index = 0

    def __init__(self, prefix: Optional[str] = None) -> None:
        self.prefix = prefix if prefix is not None else GraphBuilder.alloc_prefix()
        self.nodes: dict[str, Node] = {}
        self.id_gen = 1

    @classmethod
    def set_default_prefix(cls, prefix_root: str, call_index: int, graph_index: int = 0) -> None:
        cls._default_prefix_root = prefix_root
        cls._default_prefix_call_index = call_index
        cls._default_prefix_graph_index = graph_index

    @classmethod
    def alloc_prefix(cls, root: Optional[str] = None, call_index: Optional[int] = None,
                     graph_index: Optional[int] = None) -> str:
        root = cls._default_prefix_root if root is None else root
        call_index = cls._default_prefix_call_index if call_index is None else call_index
        if graph_index is None:
            graph_index = cls._default_prefix_graph_index
            cls._default_prefix_graph_index += 1
        return f"{root}.{call_index}.{graph_index}."

    def node(self, class_type: str, id: Optional[str] = None, **kwargs: Any) -> Node:
        if id is None:
            id = str(self.id_gen)
            self.id_gen += 1
        full = self.prefix + id
        if full in self.nodes:
            return self.nodes[full]
        node = Node(full, class_type, kwargs)
        self.nodes[full] = node
        return node

    def lookup_node(self, id: str) -> Optional[Node]:
        return self.nodes.get(self.prefix + id)

    def finalize(self) -> dict:
        return {node_id: node.serialize() for node_id, node in self.nodes.items()}

    def replace_node_output(self, node_id: str, index: int, new_value: Any) -> None:
        target = self.prefix + node_id
        for node in self.nodes.values():
            for key, value in list(node.inputs.items()):
                if is_link(value) and value[0] == target and value[1] == index:
                    node.set_input(key, new_value)

    def remove_node(self, id: str) -> None:
        self.nodes.pop(self.prefix + id, None)


def add_graph_prefix(graph: dict, outputs: tuple, prefix: str) -> tuple[dict, tuple]:
    """The graph with every node id (and link) prefixed, and its output links likewise."""
    def fix(value: Any) -> Any:
        return [prefix + value[0], value[1]] if is_link(value) else value

    new_graph = {prefix + node_id: {**node, "inputs": {k: fix(v) for k, v in node.get("inputs", {}).items()}}
                 for node_id, node in graph.items()}
    return new_graph, tuple(fix(o) for o in outputs)


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
