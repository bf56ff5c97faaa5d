"""The node registry: one decorator registers a node class and checks it at import time.

`/object_info` is built only from this registry, so a node is declared exactly once.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
from pathlib import Path
from typing import Any, Iterable, Optional

from .spec import Input, NodeOutput, Output

log = logging.getLogger(__name__)


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

    def execute(self, ctx: Any, **inputs: Any) -> tuple | NodeOutput:
        raise NotImplementedError

    @classmethod
    def fingerprint(cls, folders: Any, **constants: Any) -> Any:
        """Extra cache-key material for nodes whose result depends on the outside world
        (a file's modification time, for instance). None means: the inputs say it all."""
        return None

    @classmethod
    def input(cls, name: str) -> Optional[Input]:
        return _input_map(cls).get(name)


_INPUT_MAPS: dict[type, dict[str, Input]] = {}


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
        _check_node(cls)
        registry.add(cls)
        return cls

    return wrap


def _python_module(cls: type) -> str:
    module = cls.__module__
    return module if module.startswith("custom_nodes") else "nodes"


def load_custom_nodes(folder: Path) -> list[str]:
    """Import every module or package in `folder`; one that fails is logged and skipped.

    Returns the names of the modules that loaded.
    """
    loaded: list[str] = []
    if not folder.is_dir():
        return loaded
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir() and (entry / "__init__.py").exists():
            target = entry / "__init__.py"
        elif entry.suffix == ".py":
            target = entry
        else:
            continue
        module_name = f"custom_nodes.{entry.stem}"
        if module_name in sys.modules:
            loaded.append(entry.stem)
            continue
        try:
            spec = importlib.util.spec_from_file_location(
                module_name, target, submodule_search_locations=[str(entry)] if entry.is_dir() else None
            )
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            loaded.append(entry.stem)
        except Exception:  # a broken extension must never stop the app
            sys.modules.pop(module_name, None)
            log.exception("custom node module %s failed to import and was skipped", entry.name)
    return loaded


def object_info_entry(cls: type[Node], folders: Any = None) -> dict:
    """One node's schema in ComfyUI's `/object_info` shape."""
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
    return {name: object_info_entry(registry.get(name), folders) for name in chosen}
