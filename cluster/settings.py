"""What a worker needs to know to run prompts as the server would (sent to each actor)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

SHARE_MARKER = ".sd-studio-head"  # in the server's output folder: a worker that reads it shares the folders


@dataclass(frozen=True)
class WorkerSettings:
    base_dir: str
    models_dir: Optional[str] = None
    extra_model_paths: tuple[str, ...] = ()
    memory_argv: tuple[str, ...] = ()  # the server's memory and precision flags, as typed
    preview_method: str = "none"  # the server's --preview-method, as packs read it
    share_token: str = ""  # what SHARE_MARKER holds on the server
    ship_files: bool = False  # always send input and output files, even where folders look shared
    load_custom_nodes: bool = True  # BASE/custom_nodes, as the server loads them
    registry: str = ""  # "module:attribute" of a NodeRegistry to use instead (tests)
    heartbeat_s: float = 2.0  # a running worker speaks at least this often
    preview_interval_s: float = 0.1  # previews sent back at most this often
