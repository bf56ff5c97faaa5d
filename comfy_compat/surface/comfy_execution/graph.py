"""ComfyUI's `comfy_execution.graph`: DynamicPrompt (the running prompt, as the DYNPROMPT
hidden input), its errors, and the re-exports packs take from here."""
from __future__ import annotations

from typing import Any, Optional

from comfy_execution.graph_utils import ExecutionBlocker, GraphBuilder, is_link  # noqa: F401


class DependencyCycleError(Exception):
    pass


class NodeInputError(Exception):
    pass


class NodeNotFoundError(Exception):
    pass


class DynamicPrompt:
    """The prompt being run, with room for nodes added while it runs."""

    def __init__(self, original_prompt: dict) -> None:
        self.original_prompt = original_prompt
        self.ephemeral_prompt: dict = {}
        self.ephemeral_parents: dict = {}
        self.ephemeral_display: dict = {}

    def get_node(self, node_id: str) -> dict:
        if node_id in self.ephemeral_prompt:
            return self.ephemeral_prompt[node_id]
        if node_id in self.original_prompt:
            return self.original_prompt[node_id]
        raise NodeNotFoundError(f"Node {node_id} not found")

    def has_node(self, node_id: str) -> bool:
        return node_id in self.original_prompt or node_id in self.ephemeral_prompt

    def add_ephemeral_node(self, node_id: str, node_info: dict, parent_id: str, display_id: str) -> None:
        self.ephemeral_prompt[node_id] = node_info
        self.ephemeral_parents[node_id] = parent_id
        self.ephemeral_display[node_id] = display_id

    def get_real_node_id(self, node_id: str) -> str:
        while node_id in self.ephemeral_parents:
            node_id = self.ephemeral_parents[node_id]
        return node_id

    def get_parent_node_id(self, node_id: str) -> Optional[str]:
        return self.ephemeral_parents.get(node_id)

    def get_display_node_id(self, node_id: str) -> str:
        while node_id in self.ephemeral_display:
            node_id = self.ephemeral_display[node_id]
        return node_id

    def all_node_ids(self) -> set:
        return set(self.original_prompt) | set(self.ephemeral_prompt)

    def get_original_prompt(self) -> dict:
        return self.original_prompt


def get_input_info(class_def: Any, input_name: str, valid_inputs: Optional[dict] = None):
    """(type, section, options) of a V1 input, or (None, None, None)."""
    valid_inputs = valid_inputs if valid_inputs is not None else class_def.INPUT_TYPES()
    for section in ("required", "optional", "hidden"):
        entries = valid_inputs.get(section) or {}
        if input_name in entries:
            value = entries[input_name]
            if isinstance(value, (list, tuple)):
                return value[0], section, (value[1] if len(value) > 1 else None)
            return value, section, None
    return None, None, None


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
