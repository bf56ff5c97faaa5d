"""A ComfyUI V1 node class (NODE_CLASS_MAPPINGS) behind this engine's node contract.

The adapter keeps the pack's class untouched and answers for it: its inputs as the
engine's descriptors, hidden inputs filled from the run, one instance per node id (as
ComfyUI keeps them), returns as a tuple or `{"ui", "result"}`, IS_CHANGED in the cache
key, VALIDATE_INPUTS and check_lazy_status, and `/object_info` exactly as ComfyUI builds it.
"""
from __future__ import annotations

import inspect
import json
import math
import uuid
from collections import OrderedDict
from typing import Any, Optional

from nodes.context import NodeContext
from nodes.registry import Node, NodeDefinitionError
from nodes.spec import ExecutionBlocker, NodeOutput, Output

from . import runtime
from .aio import run_sync
from .guard import pack_guard
from .v1_inputs import hidden_inputs, input_specs

MAX_INSTANCES = 4096


def _call_style(cls: type, name: str):
    """The callable for a class-level hook, whether a classmethod, staticmethod or plain method."""
    raw = inspect.getattr_static(cls, name, None)
    if isinstance(raw, (classmethod, staticmethod)):
        return getattr(cls, name)
    return getattr(cls(), name)


def _parameters(fn) -> tuple[set[str], bool]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return set(), True
    has_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return {n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}, has_kwargs


def _hidden_value(kind: str, ctx: Optional[NodeContext]) -> Any:
    if ctx is None:
        return None
    if kind == "PROMPT":
        return ctx.prompt if ctx.prompt is not None else {}
    if kind == "EXTRA_PNGINFO":
        return ctx.extra_pnginfo
    if kind == "UNIQUE_ID":
        return ctx.node_id
    if kind == "DYNPROMPT":
        from comfy_execution.graph import DynamicPrompt  # the surface is installed before packs load

        return DynamicPrompt(ctx.prompt or {})
    if kind == "AUTH_TOKEN_COMFY_ORG":
        return ctx.extra_data.get("auth_token_comfy_org")
    if kind == "API_KEY_COMFY_ORG":
        return ctx.extra_data.get("api_key_comfy_org")
    return None


class V1Node(Node):
    """Base of the adapter classes; one subclass per registered V1 class."""

    V1_CLASS: type = object
    HIDDEN: dict[str, str] = {}
    ACCEPTS_EXTRA_LINKS = True
    _instances: "OrderedDict[str, Any]"

    # -- running -------------------------------------------------------------------

    def _instance(self, node_id: str) -> Any:
        cls = type(self)
        obj = cls._instances.get(node_id)
        if obj is None:
            obj = cls._instances[node_id] = cls.V1_CLASS()
            while len(cls._instances) > MAX_INSTANCES:
                cls._instances.popitem(last=False)
        else:
            cls._instances.move_to_end(node_id)
        return obj

    def _with_hidden(self, ctx: Optional[NodeContext], inputs: dict) -> dict:
        kwargs = dict(inputs)
        for name, kind in self.HIDDEN.items():
            value = _hidden_value(kind, ctx)
            kwargs[name] = [value] if self.INPUT_IS_LIST else value
        return kwargs

    def execute(self, ctx: NodeContext, **inputs: Any) -> NodeOutput:
        obj = self._instance(ctx.node_id)
        name = getattr(self.V1_CLASS, "FUNCTION", None)
        function = getattr(obj, name, None) if isinstance(name, str) else None
        if not callable(function):
            raise TypeError(f"{self.NODE_ID}: its FUNCTION {name!r} is not a method of {self.V1_CLASS.__name__}, "
                            "so it cannot run (ComfyUI registers it too, and fails the same way)")
        pack = self.PYTHON_MODULE.partition(".")[2] or self.PYTHON_MODULE
        with runtime.running(ctx), pack_guard(pack):
            try:
                returned = run_sync(function(**self._with_hidden(ctx, inputs)))
            except NotImplementedError as exc:  # a ComfyUI name this app lacks: say whose node needs it
                raise NotImplementedError(f"{exc} (needed by {self.NODE_ID} from pack {pack})") from exc
        return as_node_output(returned, len(self.OUTPUTS), self.NODE_ID)

    def check_lazy_status(self, ctx: NodeContext, **inputs: Any) -> list[str]:
        obj = self._instance(ctx.node_id)
        method = getattr(obj, "check_lazy_status", None)
        if method is None:
            return []
        with runtime.running(ctx):
            needed = run_sync(method(**self._with_hidden(ctx, inputs)))
        return [needed] if isinstance(needed, str) else list(needed or [])

    @classmethod
    def _v1_hidden(cls) -> list[str]:
        """Hidden inputs offered to VALIDATE_INPUTS / IS_CHANGED (schema-API nodes get none there)."""
        return [] if hasattr(cls.V1_CLASS, "STUDIO_HIDDEN") else list(cls.HIDDEN)

    # -- schema ----------------------------------------------------------------------

    @classmethod
    def input_specs(cls, folders: Any = None) -> tuple:
        return _specs_of(cls.V1_CLASS, cls.V1_CLASS.INPUT_TYPES())

    @classmethod
    def describe(cls, folders: Any = None) -> dict:
        v1 = cls.V1_CLASS
        input_types = v1.INPUT_TYPES()
        outputs = [out.type for out in cls.OUTPUTS]
        entry: dict[str, Any] = {
            "input": input_types,
            "input_order": {section: list(values) for section, values in input_types.items()
                            if isinstance(values, dict)},
            "output": outputs,
            "output_is_list": [out.is_list for out in cls.OUTPUTS],
            "output_name": [out.name for out in cls.OUTPUTS],
            "name": cls.NODE_ID,
            "display_name": cls.DISPLAY_NAME,
            "description": cls.DESCRIPTION,
            "python_module": cls.PYTHON_MODULE,
            "category": cls.CATEGORY,
            "output_node": cls.OUTPUT_NODE,
        }
        if hasattr(v1, "OUTPUT_TOOLTIPS"):
            entry["output_tooltips"] = list(v1.OUTPUT_TOOLTIPS)
        for flag, key in (("DEPRECATED", "deprecated"), ("EXPERIMENTAL", "experimental"), ("API_NODE", "api_node"),
                          ("DEV_ONLY", "dev_only")):
            if getattr(v1, flag, False):
                entry[key] = True
        aliases = getattr(v1, "SEARCH_ALIASES", None)
        if aliases:
            entry["search_aliases"] = list(aliases)
        return json_safe(entry)


class _SelfValidating:
    """For V1 classes with VALIDATE_INPUTS."""

    @classmethod
    def validate_values(cls, constants: dict[str, Any], linked_types: dict[str, Any]) -> list[tuple[str, str]]:
        check = _call_style(cls.V1_CLASS, "VALIDATE_INPUTS")
        names, has_kwargs = _parameters(check)
        offered = {**{name: None for name in linked_types}, **constants}
        offered.update({name: None for name in cls._v1_hidden()})
        chosen = {k: v for k, v in offered.items() if has_kwargs or k in names}
        if "input_types" in names:
            chosen["input_types"] = dict(linked_types)
        verdict = run_sync(check(**chosen))
        if verdict is True or isinstance(verdict, ExecutionBlocker):
            return []
        reason = "" if verdict is False else f" - {verdict}"
        return [(name, f"{name}{reason}") for name in chosen]  # ComfyUI: one error per input it was given


class _ChangeAware:
    """For V1 classes with IS_CHANGED: its answer enters the cache key."""

    @classmethod
    def fingerprint(cls, folders: Any, **constants: Any) -> Any:
        changed = _call_style(cls.V1_CLASS, "IS_CHANGED")
        names, has_kwargs = _parameters(changed)
        chosen = {k: v for k, v in constants.items() if has_kwargs or k in names}
        for name in cls._v1_hidden():
            if has_kwargs or name in names:
                chosen.setdefault(name, None)
        value = run_sync(changed(**chosen))
        if isinstance(value, float) and math.isnan(value):
            return uuid.uuid4().hex  # ComfyUI's idiom for "always run again"
        return value


def _specs_of(v1: type, input_types: Any) -> tuple:
    checker = getattr(v1, "VALIDATE_INPUTS", None)
    self_checked: Optional[set[str]] = set()
    check_types = True
    if checker is not None:
        names, has_kwargs = _parameters(_call_style(v1, "VALIDATE_INPUTS"))
        self_checked = None if has_kwargs else names
        check_types = "input_types" not in names
    return input_specs(input_types, self_checked, check_types)


def json_safe(entry: dict) -> dict:
    """The entry as it goes over the wire (tuples as lists; a pack's odd option value,
    one JSON cannot carry, as its text)."""
    return json.loads(json.dumps(entry, default=str))


def as_node_output(returned: Any, outputs: int, node_id: str) -> NodeOutput:
    """A V1 return value (tuple, list, `{"ui", "result"}`, a blocker, None) -> NodeOutput.

    Too many values are cut to the declared outputs, too few filled with None (ComfyUI
    passes None for an output a node did not return)."""
    ui = None
    if isinstance(returned, dict):
        if "expand" in returned:
            raise NotImplementedError(f"{node_id} returned a subgraph to expand ('expand'); node expansion "
                                      "(comfy_execution.graph_utils.GraphBuilder) is not supported here")
        ui = returned.get("ui")
        result = returned.get("result")
        returned = tuple(None for _ in range(outputs)) if result is None else result
    if isinstance(returned, ExecutionBlocker):
        returned = tuple(returned for _ in range(outputs))
    if returned is None or outputs == 0:
        returned = ()  # a node without outputs may return anything; ComfyUI ignores it too
    if not isinstance(returned, (tuple, list)):
        raise TypeError(f"{node_id} returned {type(returned).__name__}; a node returns a tuple with one value "
                        f"per output ({outputs})")
    # Fewer values than outputs: the missing ones are None downstream, as in ComfyUI.
    values = tuple(returned)[:outputs] + (None,) * max(0, outputs - len(returned))
    if ui:  # UI values are lists (ComfyUI joins them across list runs); tuples become lists
        ui = {key: list(value) if isinstance(value, tuple) else value for key, value in ui.items()}
    return NodeOutput(values, ui or {})


def _outputs(v1: type, node_id: str) -> tuple[Output, ...]:
    types = getattr(v1, "RETURN_TYPES", ()) or ()
    if isinstance(types, (str, bytes)) or not isinstance(types, (tuple, list)):
        raise NodeDefinitionError(f"{node_id}: RETURN_TYPES must be a tuple of types, got {types!r}")
    names = list(getattr(v1, "RETURN_NAMES", None) or [])
    is_list = list(getattr(v1, "OUTPUT_IS_LIST", None) or [])
    tips = list(getattr(v1, "OUTPUT_TOOLTIPS", None) or [])
    outs = []
    for i, kind in enumerate(types):
        kind = list(kind) if isinstance(kind, tuple) else kind
        name = names[i] if i < len(names) else (kind if isinstance(kind, str) else "COMBO")
        outs.append(Output(kind, str(name), bool(is_list[i]) if i < len(is_list) else False,
                           tips[i] if i < len(tips) else None))
    return tuple(outs)


def adapt(node_id: str, v1: type, display_name: Optional[str], python_module: str) -> type[V1Node]:
    """The engine's node class for a V1 class; raises NodeDefinitionError naming the problem."""
    if not inspect.isclass(v1):
        raise NodeDefinitionError(f"{node_id}: NODE_CLASS_MAPPINGS holds {type(v1).__name__}, not a class")
    if not callable(getattr(v1, "INPUT_TYPES", None)):
        raise NodeDefinitionError(f"{node_id}: the class has no INPUT_TYPES()")
    input_types = v1.INPUT_TYPES()
    outputs = _outputs(v1, node_id)
    attrs = {
        "NODE_ID": node_id,
        "V1_CLASS": v1,
        "CATEGORY": str(getattr(v1, "CATEGORY", None) or "sd"),
        "DISPLAY_NAME": str(display_name or node_id),
        "DESCRIPTION": str(getattr(v1, "DESCRIPTION", "") or ""),
        "OUTPUTS": outputs,
        "OUTPUT_NODE": bool(getattr(v1, "OUTPUT_NODE", False)),
        "PYTHON_MODULE": python_module,
        "INPUTS": _specs_of(v1, input_types),
        "INPUT_IS_LIST": bool(getattr(v1, "INPUT_IS_LIST", False)),
        "HIDDEN": v1.STUDIO_HIDDEN() if hasattr(v1, "STUDIO_HIDDEN") else
        hidden_inputs(input_types) if isinstance(input_types, dict) else {},
        "_instances": OrderedDict(),
        "__doc__": getattr(v1, "__doc__", None),
        "__module__": getattr(v1, "__module__", __name__),
    }
    bases: tuple[type, ...] = (V1Node,)
    if hasattr(v1, "IS_CHANGED"):
        bases = (_ChangeAware, *bases)
    if hasattr(v1, "VALIDATE_INPUTS"):
        bases = (_SelfValidating, *bases)
    return type(f"V1_{v1.__name__}", bases, attrs)
