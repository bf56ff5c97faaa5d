"""ComfyNode, Schema, NodeOutput and ComfyExtension of ComfyUI's newer schema API.

A ComfyNode class answers for itself in the V1 form as well (INPUT_TYPES, RETURN_TYPES,
FUNCTION, ...), computed from its schema, so the app's V1 adapter runs it: its FUNCTION,
EXECUTE_NORMALIZED, takes the hidden values out of the keyword arguments, puts them on
`cls.hidden` of a per-call subclass, regroups dynamic inputs and calls `execute`.
"""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Optional

from nodes.spec import ExecutionBlocker

from ._io_types import DYNAMIC_TYPES, DynamicInput, Hidden, Input, Output


@dataclass
class Schema:
    node_id: str
    display_name: Optional[str] = None
    category: str = "sd"
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    hidden: list = field(default_factory=list)
    description: str = ""
    search_aliases: list = field(default_factory=list)
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_dev_only: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False
    accept_all_inputs: bool = False
    price_badge: Any = None
    essentials_category: Any = None
    has_intermediate_output: bool = False

    def finalize(self) -> "Schema":
        self.inputs = list(self.inputs or [])
        self.outputs = list(self.outputs or [])
        self.hidden = list(self.hidden or [])
        if self.is_output_node:
            for kind in (Hidden.prompt, Hidden.extra_pnginfo):
                if kind not in self.hidden:
                    self.hidden.append(kind)
        for i, out in enumerate(self.outputs):
            if out.id is None:
                out.id = f"_{i}_{out.io_type}_"
        return self

    def validate(self) -> None:
        ids = [i.id for i in self.inputs]
        if len(ids) != len(set(ids)):
            raise ValueError(f"{self.node_id}: input ids are not unique: {ids}")


class NodeOutput:
    """What `execute` returns: output values, and optionally UI data or a blocker."""

    def __init__(self, *args: Any, ui: Any = None, expand: Optional[dict] = None,
                 block_execution: Optional[str] = None) -> None:
        self.args = args
        self.ui = ui
        self.expand = expand
        self.block_execution = block_execution

    @property
    def result(self) -> Optional[tuple]:
        return self.args if self.args else None

    def __getitem__(self, index: int) -> Any:
        return self.args[index]

    @classmethod
    def from_dict(cls, data: dict) -> "NodeOutput":
        result = data.get("result", ())
        if isinstance(result, ExecutionBlocker):
            return cls(block_execution=result.message)
        return cls(*(result or ()), ui=data.get("ui"), expand=data.get("expand"))


class _HiddenHolder:
    """`cls.hidden.unique_id`, `.prompt`, ... for the running call; anything else is None."""

    def __init__(self, values: dict) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._values.get(name)


_HIDDEN_NAMES = {h.value: h.name for h in Hidden}  # "UNIQUE_ID" -> "unique_id", ...


def _hidden_kind(kind: Any) -> str:
    return kind.value if isinstance(kind, Hidden) else str(kind)


def _hidden_name(kind: Any) -> str:
    value = _hidden_kind(kind)
    return _HIDDEN_NAMES.get(value, value.lower())


HIDDEN_PREFIX = "__hidden__."  # hidden values reach EXECUTE_NORMALIZED under these names (never an input's)


def _entry(inp: Input) -> tuple:
    options = {k: v for k, v in inp.as_dict().items() if k != "optional"}
    return (inp.get_io_type(), options)


def _regroup(kwargs: dict) -> dict:
    """Dotted keys of dynamic inputs ("mode.width") become nested dicts, as ComfyUI passes
    them; the chosen key of a dynamic combo goes inside under its own name."""
    out: dict = {}
    for key, value in kwargs.items():
        if "." in key:
            *path, last = key.split(".")
            here = out
            for part in path:
                here = here.setdefault(part, {})
            here[last] = value
    for key, value in kwargs.items():
        if "." not in key:
            if isinstance(out.get(key), dict):
                out[key].setdefault(key, value)
            else:
                out[key] = value
    return out


class _NodeMeta(type):
    """V1 attributes of a ComfyNode class, computed from its schema."""

    def _schema(cls) -> Schema:
        cached = cls.__dict__.get("_studio_schema")
        if cached is None:
            cached = cls.define_schema().finalize()
            type.__setattr__(cls, "_studio_schema", cached)
        return cached

    @property
    def SCHEMA(cls) -> Schema:
        return cls._schema()

    @property
    def FUNCTION(cls) -> str:
        return "EXECUTE_NORMALIZED"

    @property
    def CATEGORY(cls) -> str:
        return cls._schema().category

    @property
    def DESCRIPTION(cls) -> str:
        return cls._schema().description

    @property
    def OUTPUT_NODE(cls) -> bool:
        return cls._schema().is_output_node

    @property
    def INPUT_IS_LIST(cls) -> bool:
        return cls._schema().is_input_list

    @property
    def DEPRECATED(cls) -> bool:
        return cls._schema().is_deprecated

    @property
    def EXPERIMENTAL(cls) -> bool:
        return cls._schema().is_experimental

    @property
    def NOT_IDEMPOTENT(cls) -> bool:
        return cls._schema().not_idempotent

    @property
    def SEARCH_ALIASES(cls) -> list:
        return list(cls._schema().search_aliases)

    @property
    def RETURN_TYPES(cls) -> tuple:
        return tuple(out.get_io_type() for out in cls._schema().outputs)

    @property
    def RETURN_NAMES(cls) -> tuple:
        return tuple(out.display_name or out.get_io_type() for out in cls._schema().outputs)

    @property
    def OUTPUT_IS_LIST(cls) -> tuple:
        return tuple(bool(out.is_output_list) for out in cls._schema().outputs)

    @property
    def OUTPUT_TOOLTIPS(cls) -> tuple:
        return tuple(out.tooltip for out in cls._schema().outputs)


def _overrides(cls: type, name: str) -> bool:
    for klass in cls.__mro__:
        if klass is ComfyNode:
            return False
        if name in klass.__dict__:
            return True
    return False


class ComfyNode(metaclass=_NodeMeta):
    """Base of nodes written with `define_schema` and a classmethod `execute`."""

    hidden = _HiddenHolder({})
    RELATIVE_PYTHON_MODULE = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for v3_name, v1_name in (("validate_inputs", "VALIDATE_INPUTS"), ("fingerprint_inputs", "IS_CHANGED")):
            if _overrides(cls, v3_name):  # the V1 hook with the same signature
                setattr(cls, v1_name, classmethod(getattr(cls, v3_name).__func__))

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError(f"{cls.__name__} does not define define_schema()")

    @classmethod
    def execute(cls, **kwargs: Any) -> NodeOutput:
        raise NotImplementedError(f"{cls.__name__} does not define execute()")

    @classmethod
    def check_lazy_status(cls, **kwargs: Any) -> list[str]:
        """By default: every lazy input not computed yet."""
        lazy = {i.id for i in cls._schema().inputs if getattr(i, "lazy", False)}
        return [name for name, value in kwargs.items() if name in lazy and value is None]

    @classmethod
    def GET_SCHEMA(cls) -> Schema:
        return cls._schema()

    @classmethod
    def VALIDATE_CLASS(cls) -> None:
        if not _overrides(cls, "define_schema") or not _overrides(cls, "execute"):
            raise TypeError(f"{cls.__name__} must define define_schema() and execute()")

    @classmethod
    def INPUT_TYPES(cls, include_hidden: bool = True, return_schema: bool = False, live_inputs: Any = None) -> Any:
        """The V1 input dict; dynamic inputs list every input they can stand for (optional)."""
        schema = cls._schema()
        required: dict = {}
        optional: dict = {}
        for inp in schema.inputs:
            (optional if inp.optional else required)[inp.id] = _entry(inp)
            if isinstance(inp, DynamicInput):
                for flat, child in inp.nested():
                    optional.setdefault(flat, _entry(child))
        out: dict = {"required": required}
        if optional:
            out["optional"] = optional
        if include_hidden and schema.hidden:
            out["hidden"] = {_hidden_name(kind): (_hidden_kind(kind),) for kind in schema.hidden}
        return (out, schema, {}) if return_schema else out

    @classmethod
    def STUDIO_HIDDEN(cls) -> dict[str, str]:
        """The hidden values the app passes to EXECUTE_NORMALIZED: prefixed name -> kind."""
        return {HIDDEN_PREFIX + _hidden_name(kind): _hidden_kind(kind) for kind in cls._schema().hidden}

    @classmethod
    def EXECUTE_NORMALIZED(cls, **kwargs: Any) -> Any:
        schema = cls._schema()
        hidden = {name[len(HIDDEN_PREFIX):]: kwargs.pop(name) for name in list(kwargs)
                  if name.startswith(HIDDEN_PREFIX)}
        call = type(cls.__name__, (cls,), {"hidden": _HiddenHolder(hidden), "__module__": cls.__module__})
        from comfy_compat.aio import run_sync

        returned = run_sync(call.execute(**_regroup(kwargs)))
        return _to_v1(returned, schema)

    @classmethod
    def GET_NODE_INFO_V1(cls) -> dict:
        from comfy_compat.v1_nodes import adapt

        return adapt(cls._schema().node_id, cls, cls._schema().display_name, "custom_nodes").describe()


def _to_v1(returned: Any, schema: Schema) -> Any:
    """execute()'s value in the V1 return form: a tuple, or {"ui", "result"}."""
    if returned is None:
        returned = NodeOutput()
    if isinstance(returned, ExecutionBlocker):
        return returned
    if isinstance(returned, tuple):
        returned = NodeOutput(*returned)
    elif isinstance(returned, dict):
        returned = NodeOutput.from_dict(returned)
    if not isinstance(returned, NodeOutput):
        raise TypeError(f"Invalid return type from node {schema.node_id}: {type(returned).__name__}")
    if returned.block_execution is not None:
        return ExecutionBlocker(returned.block_execution)
    if returned.expand is not None:
        return {"expand": returned.expand, "result": returned.args}
    ui = returned.ui
    if ui is not None and hasattr(ui, "as_dict"):
        ui = ui.as_dict()
    result = tuple(returned.args)
    return {"ui": ui, "result": result} if ui else result


class ComfyExtension(ABC):
    """What a pack's `comfy_entrypoint()` returns: the list of its node classes."""

    async def on_load(self) -> None:
        return None

    @abstractmethod
    async def get_node_list(self) -> list[type[ComfyNode]]:
        ...


DYNAMIC_IO_TYPES = DYNAMIC_TYPES
OUTPUT_TYPE = Output
