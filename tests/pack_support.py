"""Helpers for the custom node pack tests: the test packs (tests/data/packs, written as
ComfyUI packs are) copied into a tmp custom_nodes/, loaded into a registry of their own."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable, Optional

from comfy_compat.loader import LoadedPacks
from comfy_compat.setup import load_headless
from nodes.folders import Folders
from nodes.registry import REGISTRY, NodeRegistry

PACKS = Path(__file__).parent / "data" / "packs"


def core_registry() -> NodeRegistry:
    """The core nodes only, in a registry the test may add packs to."""
    registry = NodeRegistry()
    for cls in REGISTRY:
        if cls.PYTHON_MODULE == "nodes":
            registry.add(cls)
    return registry


def place_packs(base: Path, names: Optional[Iterable[str]] = None) -> Path:
    """Copy test packs (all, or the named ones) to base/custom_nodes; returns that folder."""
    folder = base / "custom_nodes"
    folder.mkdir(parents=True, exist_ok=True)
    for entry in PACKS.iterdir():
        if names is not None and entry.name not in names:
            continue
        if entry.is_dir():
            shutil.copytree(entry, folder / entry.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(entry, folder / entry.name)
    return folder


def load_test_packs(base: Path, names: Optional[Iterable[str]] = None) -> tuple[Folders, NodeRegistry, LoadedPacks]:
    folders = Folders.under(base)
    registry = core_registry()
    loaded = load_headless(place_packs(base, names), folders, registry)
    return folders, registry, loaded
