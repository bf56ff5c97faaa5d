"""ComfyUI's `execution` module: what packs import from it, on this app's executor.

`validate_prompt` validates with the app's own validation; `get_input_data` gathers a
V1 node's arguments the way the app passes them. ComfyUI's executor classes themselves
(PromptExecutor, the caches) are not this app's and are placeholders."""
from __future__ import annotations

import enum
from typing import Any, Optional

from comfy_execution.graph_utils import ExecutionBlocker, is_link  # noqa: F401

SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
MAXIMUM_HISTORY_SIZE = 10000


class ExecutionResult(enum.Enum):
    SUCCESS = 0
    FAILURE = 1
    PENDING = 2


class DuplicateNodeError(Exception):
    pass


async def validate_prompt(prompt_id: Any, prompt: dict, partial_execution_list: Optional[list] = None) -> tuple:
    """(ok, error or None, output node ids that can run, node_errors) as ComfyUI returns them."""
    from comfy_compat import runtime
    from executor.graph import WorkflowFormatError, parse_workflow
    from executor.validation import validate_workflow
    from nodes.registry import REGISTRY

    try:
        workflow = parse_workflow(prompt)
    except WorkflowFormatError as exc:
        return False, {"type": "invalid_prompt", "message": str(exc), "details": "", "extra_info": {}}, [], {}
    checked = validate_workflow(workflow, REGISTRY, runtime.folders())
    outputs = checked.outputs
    if partial_execution_list is not None:
        outputs = [o for o in outputs if o in set(partial_execution_list)]
    return checked.ok, checked.error, outputs, checked.node_errors


def get_input_data(inputs: dict, class_def: Any, unique_id: str, execution_list: Any = None,
                   dynprompt: Any = None, extra_data: Optional[dict] = None) -> tuple:
    """({name: [value]}, missing links, {}) for a V1 node: constants it declares, links as None
    (nothing is computed here), hidden inputs from the prompt."""
    valid = class_def.INPUT_TYPES()
    declared = set(valid.get("required", {})) | set(valid.get("optional", {})) | set(valid.get("hidden", {}))
    data: dict = {}
    missing: dict = {}
    for name, value in inputs.items():
        if is_link(value):
            data[name] = (None,)
            missing[name] = True
        elif name in declared:
            data[name] = [value]
    extra = extra_data or {}
    for name, kind in (valid.get("hidden") or {}).items():
        kind = kind[0] if isinstance(kind, (list, tuple)) else kind
        value = {"PROMPT": dynprompt.get_original_prompt() if dynprompt is not None else {},
                 "DYNPROMPT": dynprompt, "EXTRA_PNGINFO": extra.get("extra_pnginfo"), "UNIQUE_ID": unique_id,
                 "AUTH_TOKEN_COMFY_ORG": extra.get("auth_token_comfy_org"),
                 "API_KEY_COMFY_ORG": extra.get("api_key_comfy_org")}.get(kind)
        data[name] = [value]
    return data, missing, {}


def format_value(x: Any) -> Any:
    if x is None or isinstance(x, (int, float, bool, str)):
        return x
    return str(x)


def full_type_name(klass: type) -> str:
    module = klass.__module__
    return klass.__qualname__ if module == "builtins" else f"{module}.{klass.__qualname__}"


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
