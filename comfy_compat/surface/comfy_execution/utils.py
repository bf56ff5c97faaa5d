"""ComfyUI's `comfy_execution.utils`: which node is running (for progress reporting)."""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

from comfy_compat import runtime


class ExecutionContext(NamedTuple):
    prompt_id: str
    node_id: str
    list_index: Optional[int]


def get_executing_context() -> Optional[ExecutionContext]:
    ctx = runtime.current()
    if ctx is None:
        return None
    return ExecutionContext(str(ctx.extra_data.get("prompt_id", "")), ctx.node_id, None)


class CurrentNodeContext:
    """Kept for packs that enter it; the app tracks the running node itself."""

    def __init__(self, prompt_id: str, node_id: str, list_index: Optional[int] = None) -> None:
        self.context = ExecutionContext(prompt_id, node_id, list_index)

    def __enter__(self) -> "CurrentNodeContext":
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
