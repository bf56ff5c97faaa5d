"""What ComfyUI keeps in globals, held in one place: the app's folders, the node running
now (for progress bars and interrupt checks called from pack code) and the server facade.

Pack code calls `comfy.utils.ProgressBar(...)` or `model_management.processing_interrupted()`
with no context in hand; the V1 adapter sets the running node's context here for the
length of its call (per thread, with the latest one as a fallback for threads a pack
starts itself).
"""
from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, Optional

from nodes.context import NodeContext
from nodes.folders import Folders

_local = threading.local()
_state: dict[str, Any] = {"folders": None, "latest": None, "interrupt": threading.Event()}


def bind_folders(folders: Folders) -> None:
    """The folders `folder_paths` and the core nodes called the V1 way work in (input,
    output and temp exist afterwards, as packs expect from ComfyUI)."""
    for folder in (folders.input, folders.output, folders.temp):
        folder.mkdir(parents=True, exist_ok=True)
    _state["folders"] = folders
    from . import install_surface

    install_surface()
    import folder_paths

    folder_paths.bind(folders)
    _place_comfyui_root(Path(folder_paths.base_path))


def _place_comfyui_root(root: Path) -> None:
    """Packs find "ComfyUI's folder" from `folder_paths.__file__` or the file defining
    PromptServer (and may write there): both name the app's base folder, which holds
    custom_nodes/, models/, input/ and output/ as ComfyUI's does."""
    import types

    import folder_paths

    from .server_surface import PromptServer

    folder_paths.__file__ = str(root / "folder_paths.py")
    name = "comfy_compat.comfyui_root.server"
    module = sys.modules.get(name) or types.ModuleType(name)
    module.__file__ = str(root / "server.py")
    module.PromptServer = PromptServer
    sys.modules[name] = module
    PromptServer.__module__ = name


def folders() -> Folders:
    found = _state["folders"]
    if found is None:
        from cli.app_paths import BASE_DIR

        found = Folders.under(BASE_DIR)
        bind_folders(found)
    return found


def current() -> Optional[NodeContext]:
    """The context of the node running on this thread (or, failing that, the latest one)."""
    return getattr(_local, "ctx", None) or _state["latest"]


@contextlib.contextmanager
def running(ctx: NodeContext) -> Iterator[None]:
    previous = getattr(_local, "ctx", None)
    _local.ctx = ctx
    _state["latest"] = ctx
    try:
        yield
    finally:
        _local.ctx = previous
        if _state["latest"] is ctx:
            _state["latest"] = previous


def standalone_context() -> NodeContext:
    """A context for a core node called the V1 way outside any run (a pack's own script)."""
    return NodeContext(folders=folders(), is_interrupted=_state["interrupt"].is_set,
                       request_interrupt=_state["interrupt"].set)


def context() -> NodeContext:
    return current() or standalone_context()


def interrupted() -> bool:
    ctx = current()
    return ctx.is_interrupted() if ctx is not None else _state["interrupt"].is_set()


def set_interrupt(value: bool = True) -> None:
    """ComfyUI's interrupt_current_processing: stop the running prompt (or clear the flag)."""
    ctx = current()
    if value:
        (ctx.request_interrupt if ctx is not None else _state["interrupt"].set)()
    elif ctx is None:
        _state["interrupt"].clear()
