"""Loading custom node packs from `custom_nodes/` the way ComfyUI does, one by one, so
that a broken pack is named with its reason and never stops the others.

A pack is a `.py` file or a folder with `__init__.py`. ComfyUI skips names ending in
`.disabled` and `__pycache__`; so does this loader (and hidden names). A pack registers
its nodes through NODE_CLASS_MAPPINGS (V1), `comfy_entrypoint` (the newer schema API),
or, for packs written for this studio, `register_node` at import.
"""
from __future__ import annotations

import importlib.util
import logging
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from nodes.registry import REGISTRY, Node, NodeRegistry

from . import install_surface
from .failures import describe_failure
from .guard import pack_guard
from .v1_nodes import adapt

log = logging.getLogger("sd_studio.custom_nodes")


@dataclass
class PackReport:
    """What happened to one pack at start-up (shown by `main.py nodes list` and the editor)."""

    name: str
    path: str
    status: str = "loaded"  # loaded, failed, skipped
    reason: str = ""
    seconds: float = 0.0
    nodes: list[str] = field(default_factory=list)
    declared: int = 0  # entries in its NODE_CLASS_MAPPINGS (or entrypoint list): what ComfyUI would register
    node_errors: dict[str, str] = field(default_factory=dict)  # node id -> why it was not registered
    notes: list[str] = field(default_factory=list)  # e.g. a node id that replaced another pack's
    web_directory: Optional[str] = None
    traceback: str = ""

    def as_dict(self) -> dict:
        return {
            "name": self.name, "path": self.path, "status": self.status, "reason": self.reason,
            "seconds": round(self.seconds, 4), "nodes": list(self.nodes), "declared": self.declared,
            "node_errors": dict(self.node_errors),
            "web_directory": self.web_directory, "notes": list(self.notes),
        }


@dataclass
class LoadedPacks:
    """Every pack's report, plus what the server needs from them."""

    reports: list[PackReport] = field(default_factory=list)
    web_dirs: dict[str, Path] = field(default_factory=dict)  # pack name -> its WEB_DIRECTORY
    owners: dict[str, str] = field(default_factory=dict)  # node id -> pack name

    def report(self, name: str) -> Optional[PackReport]:
        return next((r for r in self.reports if r.name == name), None)


def pack_entries(folder: Path) -> list[Path]:
    """The packs in `folder`, in ComfyUI's order (directory listing, sorted here for stability)."""
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name.startswith((".", "__")) or name.endswith(".disabled"):
            continue
        if entry.is_file() and entry.suffix != ".py":
            continue
        found.append(entry)
    return found


def load_packs(folder: Path, registry: NodeRegistry = REGISTRY, loaded: Optional[LoadedPacks] = None) -> LoadedPacks:
    """Import every pack in `folder` and register its nodes in `registry`."""
    install_surface()
    loaded = loaded if loaded is not None else LoadedPacks()
    for entry in pack_entries(Path(folder)):
        report = _load_one(entry, registry, loaded)
        loaded.reports.append(report)
    _log_summary(loaded)
    return loaded


def _module_name(entry: Path) -> str:
    return f"custom_nodes.{entry.stem if entry.is_file() else entry.name}"


def _in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _load_one(entry: Path, registry: NodeRegistry, loaded: LoadedPacks) -> PackReport:
    name = entry.stem if entry.is_file() else entry.name
    report = PackReport(name=name, path=str(entry))
    module_name = _module_name(entry)
    target = entry if entry.is_file() else entry / "__init__.py"
    if not target.is_file():
        report.status, report.reason = "skipped", "a folder without __init__.py is not a Python package"
        return report
    for stale in [m for m in sys.modules if _in_package(m, module_name)]:
        del sys.modules[stale]  # a fresh load of the pack, not what an earlier load left
    before_modules = set(sys.modules)
    before_nodes = set(registry.names())
    started = time.perf_counter()
    try:
        with pack_guard(name):
            spec = importlib.util.spec_from_file_location(
                module_name, target, submodule_search_locations=[str(entry)] if entry.is_dir() else None)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            _register_pack_nodes(module, name, module_name, registry, report, loaded)
    except (Exception, SystemExit) as exc:  # a broken pack must never stop the app
        report.status, report.reason = "failed", describe_failure(exc, name, entry)
        report.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        for added in set(sys.modules) - before_modules:
            if _in_package(added, module_name):
                sys.modules.pop(added, None)
        for node_id in set(registry.names()) - before_nodes:
            registry.remove(node_id)
        report.nodes = []
    report.seconds = time.perf_counter() - started
    if report.status == "loaded":
        native = sorted(set(registry.names()) - before_nodes - set(report.nodes))
        report.nodes.extend(native)
        report.declared = report.declared or len(report.nodes)
        for node_id in report.nodes:
            loaded.owners[node_id] = name
        web = getattr(sys.modules.get(module_name), "WEB_DIRECTORY", None)
        if isinstance(web, str) and (entry / web).is_dir() and entry.is_dir():
            report.web_directory = str((entry / web).resolve())
            loaded.web_dirs[name] = Path(report.web_directory)
    return report


def _register_pack_nodes(module: Any, pack: str, module_name: str, registry: NodeRegistry,
                         report: PackReport, loaded: LoadedPacks) -> None:
    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    names = getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None) or {}
    if mappings is None and hasattr(module, "comfy_entrypoint"):
        from .v3 import node_classes_of_entrypoint

        mappings, names = node_classes_of_entrypoint(module.comfy_entrypoint)
    if mappings is None:
        if not _registered_natively(registry, module_name):
            report.status, report.reason = "skipped", "no NODE_CLASS_MAPPINGS or comfy_entrypoint"
        return
    if not isinstance(mappings, dict):
        raise TypeError(f"NODE_CLASS_MAPPINGS is a {type(mappings).__name__}, not a dict")
    report.declared = len(mappings)
    accepted = {}
    for node_id, cls in mappings.items():
        node_id = str(node_id)
        problem = _register_one(node_id, cls, names.get(node_id), pack, registry, loaded, report)
        if problem:
            report.node_errors[node_id] = problem
            log.warning("custom node %s from %s was not registered: %s", node_id, pack, problem)
        else:
            report.nodes.append(node_id)
            accepted[node_id] = cls
    from . import nodes_surface

    nodes_surface.remember_pack_classes(accepted, {k: v for k, v in names.items() if k in accepted})


def _registered_natively(registry: NodeRegistry, module_name: str) -> bool:
    return any(cls.PYTHON_MODULE.startswith(module_name) for cls in registry)


def _register_one(node_id: str, cls: Any, display: Optional[str], pack: str, registry: NodeRegistry,
                  loaded: LoadedPacks, report: PackReport) -> str:
    """Register one mapping entry; returns why it was not registered, or ''."""
    existing = registry.get(node_id)
    if isinstance(cls, type) and issubclass(cls, Node):  # written for this studio
        if existing is not None and existing is not cls:
            return f"node id '{node_id}' is already taken by {_owner(node_id, loaded)}"
        registry.add(cls)
        return ""
    if existing is not None and node_id not in loaded.owners:
        return f"node id '{node_id}' is a core node of this app (used instead); packs cannot replace it"
    try:
        from .v3 import schema_display_name

        adapted = adapt(node_id, cls, display or schema_display_name(cls), f"custom_nodes.{pack}")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    if existing is not None:
        earlier = loaded.owners.get(node_id)
        log.warning("node id %s is defined by both %s and %s; %s's is used (loaded later, as in ComfyUI)",
                    node_id, earlier, pack, pack)
        previous = loaded.report(earlier) if earlier else None
        if previous is not None and node_id in previous.nodes:
            previous.nodes.remove(node_id)
            previous.node_errors[node_id] = f"replaced by the node of the same id in pack {pack}"
        report.notes.append(f"{node_id} replaces the node of the same id from {earlier} (the pack loaded last wins)")
        registry.remove(node_id)
    registry.add(adapted)
    loaded.owners[node_id] = pack
    return ""


def _owner(node_id: str, loaded: LoadedPacks) -> str:
    pack = loaded.owners.get(node_id)
    return f"pack {pack}" if pack else "a core node"


def _log_summary(loaded: LoadedPacks) -> None:
    if not loaded.reports:
        return
    lines = ["Import times for custom nodes:"]
    for report in sorted(loaded.reports, key=lambda r: r.seconds):
        note = {"failed": " (IMPORT FAILED)", "skipped": " (SKIPPED)"}.get(report.status, "")
        lines.append(f"  {report.seconds:6.1f} seconds{note}: {report.path}")
    log.info("\n".join(lines))
    for report in loaded.reports:
        if report.status == "failed":
            log.error("custom node pack %s failed to load: %s", report.name, report.reason)
