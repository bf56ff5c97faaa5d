"""The node registry: one decorator registers a node class and checks it at import time.

`/object_info` is built only from this registry, so a node is declared exactly once.
"""
from __future__ import annotations

import inspect
from typing import Any, Iterable, Optional

from .spec import Input, NodeOutput, Output


class NodeDefinitionError(TypeError):
    """A node class that cannot work as declared (reported when it is registered)."""


class Node:
    """Base of every node class.

    Subclasses declare inputs as class attributes (spec.Input instances), set `OUTPUTS`
    and implement `execute(self, ctx, **inputs)`, returning a tuple with one value per
    output or a NodeOutput. Metadata is filled in by `register_node`.
    """

    NODE_ID: str = ""
    CATEGORY: str = ""
    DISPLAY_NAME: str = ""
    DESCRIPTION: str = ""
    OUTPUTS: tuple[Output, ...] = ()
    OUTPUT_NODE: bool = False
    PYTHON_MODULE: str = "nodes"
    INPUTS: tuple[Input, ...] = ()  # collected from the class attributes, in order
    INPUT_IS_LIST: bool = False  # take every input as a whole list instead of running once per item
    ACCEPTS_EXTRA_LINKS: bool = False  # links to inputs it does not declare are passed to it too

    def execute(self, ctx: Any, **inputs: Any) -> tuple | NodeOutput:
        raise NotImplementedError

    def check_lazy_status(self, ctx: Any, **inputs: Any) -> list[str]:
        """Which lazy inputs this node needs, given what is known so far (lazy links not
        yet computed are None). Asked again after those are computed, until it asks no more."""
        return []

    @classmethod
    def validate_values(cls, constants: dict[str, Any], linked_types: dict[str, Any]) -> list[tuple[str, str]]:
        """Node-level checks beyond each input's own: (input name, what is wrong) pairs.
        `linked_types` holds the type each linked input receives."""
        return []

    @classmethod
    def input_specs(cls, folders: Any = None) -> tuple[Input, ...]:
        """The inputs to validate a workflow against now (a node whose lists change may
        compute them afresh)."""
        return cls.INPUTS

    @classmethod
    def describe(cls, folders: Any = None) -> dict:
        """The node's `/object_info` entry."""
        return object_info_entry(cls, folders)

    @classmethod
    def lazy_inputs(cls) -> frozenset[str]:
        found = _LAZY_INPUTS.get(cls)
        if found is None:
            found = _LAZY_INPUTS[cls] = frozenset(spec.name for spec in cls.INPUTS if spec.lazy)
        return found

    @classmethod
    def fingerprint(cls, folders: Any, **constants: Any) -> Any:
        """Extra cache-key material for nodes whose result depends on the outside world
        (a file's modification time, for instance). None means: the inputs say it all."""
        return None

    @classmethod
    def input_named(cls, name: str) -> Optional[Input]:
        return _input_map(cls).get(name)


_INPUT_MAPS: dict[type, dict[str, Input]] = {}
_LAZY_INPUTS: dict[type, frozenset] = {}


def _input_map(cls: type) -> dict[str, Input]:
    found = _INPUT_MAPS.get(cls)
    if found is None:
        found = {spec.name: spec for spec in cls.INPUTS}
        _INPUT_MAPS[cls] = found
    return found


class NodeRegistry:
    """Maps node ids (ComfyUI's class_type) to node classes."""

    def __init__(self) -> None:
        self._nodes: dict[str, type[Node]] = {}

    def add(self, cls: type[Node]) -> None:
        if cls.NODE_ID in self._nodes and self._nodes[cls.NODE_ID] is not cls:
            raise NodeDefinitionError(f"{cls.NODE_ID}: a node with this id is already registered")
        self._nodes[cls.NODE_ID] = cls

    def remove(self, node_id: str) -> None:
        self._nodes.pop(node_id, None)

    def copy(self) -> "NodeRegistry":
        twin = NodeRegistry()
        twin._nodes = dict(self._nodes)
        return twin

    def get(self, node_id: str) -> Optional[type[Node]]:
        return self._nodes.get(node_id)

    def __contains__(self, node_id: str) -> bool:
        return node_id in self._nodes

    def __iter__(self):
        return iter(self._nodes.values())

    def names(self) -> list[str]:
        return list(self._nodes)


REGISTRY = NodeRegistry()


def _collect_inputs(cls: type) -> tuple[Input, ...]:
    """Input descriptors in declaration order, base classes first."""
    seen: dict[str, Input] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Input):
                seen[name] = value if value.name == name else _renamed(value, name)
    return tuple(seen.values())


def _renamed(spec: Input, name: str) -> Input:
    import dataclasses

    return dataclasses.replace(spec, name=name)


def _check_node(cls: type[Node]) -> None:
    node_id = cls.NODE_ID
    for spec in cls.INPUTS:
        if callable(getattr(Node, spec.name, None)):
            raise NodeDefinitionError(f"{node_id}.{spec.name}: the name of a Node method cannot be an input")
        problem = spec.check_default()
        if problem:
            raise NodeDefinitionError(f"{node_id}.{spec.name}: {problem}")
    params = inspect.signature(cls.execute).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not takes_any:
        for spec in cls.INPUTS:
            if spec.name not in params:
                raise NodeDefinitionError(f"{node_id}.execute: no parameter for input '{spec.name}'")
        declared = {spec.name for spec in cls.INPUTS} | {"self", "ctx"}
        extra = [name for name, p in params.items() if name not in declared and p.default is inspect.Parameter.empty]
        if extra:
            raise NodeDefinitionError(f"{node_id}.execute: parameters {extra} are not declared inputs")
    if not cls.OUTPUTS and not cls.OUTPUT_NODE:
        raise NodeDefinitionError(f"{node_id}: a node without outputs must be an output node")


def register_node(
    node_id: str,
    *,
    category: str,
    display_name: str = "",
    output_node: bool = False,
    registry: NodeRegistry = REGISTRY,
):
    """Class decorator: name, categorise, check and register a node class."""

    def wrap(cls: type[Node]) -> type[Node]:
        cls.NODE_ID = node_id
        cls.CATEGORY = category
        cls.DISPLAY_NAME = display_name or node_id
        cls.DESCRIPTION = inspect.cleandoc(cls.__doc__ or "")
        cls.OUTPUT_NODE = output_node
        cls.PYTHON_MODULE = _python_module(cls)
        cls.INPUTS = _collect_inputs(cls)
        _INPUT_MAPS.pop(cls, None)
        _LAZY_INPUTS.pop(cls, None)
        _check_node(cls)
        registry.add(cls)
        return cls

    return wrap


def _python_module(cls: type) -> str:
    module = cls.__module__
    return module if module.startswith("custom_nodes") else "nodes"


def object_info_entry(cls: type[Node], folders: Any = None) -> dict:
    """One node's schema in ComfyUI's `/object_info` shape, from its declared inputs."""
    required: dict[str, list] = {}
    optional: dict[str, list] = {}
    for spec in cls.INPUTS:
        (optional if spec.optional else required)[spec.name] = spec.schema(folders)
    hidden = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"} if cls.OUTPUT_NODE else {}
    return {
        "input": {"required": required, "optional": optional, "hidden": hidden},
        "input_order": {"required": list(required), "optional": list(optional)},
        "output": [out.type for out in cls.OUTPUTS],
        "output_is_list": [out.is_list for out in cls.OUTPUTS],
        "output_name": [out.name or out.type for out in cls.OUTPUTS],
        "name": cls.NODE_ID,
        "display_name": cls.DISPLAY_NAME,
        "description": cls.DESCRIPTION,
        "category": cls.CATEGORY,
        "output_node": cls.OUTPUT_NODE,
        "python_module": cls.PYTHON_MODULE,
    }


def object_info(
    registry: NodeRegistry = REGISTRY, folders: Any = None, names: Optional[Iterable[str]] = None
) -> dict:
    """All (or the named) nodes' schemas, keyed by node id; `folders` fills model lists."""
    chosen = registry.names() if names is None else [n for n in names if n in registry]
    return {name: registry.get(name).describe(folders) for name in chosen}
