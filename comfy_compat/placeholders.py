"""ComfyUI names this app does not implement, answered as ComfyUI would answer them.

`data/comfy_symbols.json` lists, for each module of ComfyUI (0.8 and newer), the names it
defines. A name ComfyUI has but this app does not implement (mostly ComfyUI's own model
code under `comfy.ldm`) becomes a placeholder: importing it works, as does subclassing or
patching it at import time, but calling it raises NotImplementedError naming the symbol.
A name ComfyUI does not have raises AttributeError / ImportError as it would there, so
`hasattr` checks in packs behave as on ComfyUI. Imports of outside modules recorded in
the index (`comfy.sample.np` is numpy) resolve to the real module.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import json
import sys
import types
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

INDEX_PATH = Path(__file__).resolve().parent / "data" / "comfy_symbols.json"


@lru_cache(maxsize=1)
def symbol_index() -> dict[str, dict[str, str]]:
    return json.loads(INDEX_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _packages() -> frozenset[str]:
    names = set()
    for module in symbol_index():
        parts = module.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(names)


def not_provided(symbol: str) -> NotImplementedError:
    if symbol.startswith("nodes."):
        node = symbol.split(".")[1]
        return NotImplementedError(f"{symbol}: ComfyUI's core node {node} is not one this app has")
    return NotImplementedError(
        f"{symbol} is part of ComfyUI's own code, which this app does not include; the node that needs it "
        "cannot run here")


class _MissingMeta(type):
    """Metaclass of placeholders: attributes are placeholders, calling raises."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        child = missing_symbol(f"{cls.__symbol__}.{name}")
        type.__setattr__(cls, name, child)
        return child

    def __call__(*args: Any, **kwargs: Any) -> Any:  # no named first parameter: callers may pass cls=
        cls = args[0]
        own = cls.__dict__.get("__symbol__")
        if own is None:
            raise NotImplementedError(f"{cls.__qualname__} builds on {cls.__symbol__}, which is part of ComfyUI's "
                                      "own code and not included in this app")
        raise not_provided(own)

    def __iter__(cls):
        raise not_provided(cls.__symbol__)

    def __repr__(cls) -> str:
        return f"<ComfyUI {cls.__symbol__} (not provided)>"


def missing_symbol(symbol: str) -> type:
    name = symbol.rpartition(".")[2] or symbol
    return _MissingMeta(name, (), {"__symbol__": symbol, "__module__": symbol.rpartition(".")[0]})


def _resolve(origin: str, symbol: str) -> Any:
    comfy_own = origin.startswith("@")
    target = origin.lstrip("@")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr) if attr else module
    except (ImportError, AttributeError, NotImplementedError):
        if comfy_own:
            return missing_symbol(symbol)
        raise


def fallback(module: str, name: str) -> Any:
    """`module.name` for a name a surface module does not define itself."""
    if name.startswith("__"):
        raise AttributeError(name)
    names = symbol_index().get(module)
    if names is not None and name in names:
        origin = names[name]
        return _resolve(origin, f"{module}.{name}") if origin else missing_symbol(f"{module}.{name}")
    if f"{module}.{name}" in symbol_index() or f"{module}.{name}" in _packages():
        return importlib.import_module(f"{module}.{name}")
    raise AttributeError(f"module '{module}' has no attribute '{name}'")


class _PlaceholderModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        value = fallback(self.__name__, name)
        setattr(self, name, value)
        return value


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _PlaceholderModule(spec.name)
        module.__doc__ = f"ComfyUI's {spec.name}: not included in this app (placeholders only)."
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__studio_placeholder__ = True


class PlaceholderFinder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: ComfyUI modules the surface does not provide as files."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname not in symbol_index() and fullname not in _packages():
            return None
        is_package = fullname in _packages()
        return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=is_package)


def install_finder() -> None:
    if not any(isinstance(f, PlaceholderFinder) for f in sys.meta_path):
        sys.meta_path.append(PlaceholderFinder())
