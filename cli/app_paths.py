"""The app's folders from command-line flags (and extra_model_paths.yaml)."""
from __future__ import annotations

import argparse
from pathlib import Path

from nodes.folders import Folders

BASE_DIR = Path(__file__).resolve().parent.parent
EXTRA_PATHS_FILE = "extra_model_paths.yaml"


def add_folder_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-dir", default=str(BASE_DIR), help="folder holding models/, input/, output/, temp/")
    parser.add_argument("--models-dir", default=None, help="models folder (default: BASE/models)")
    parser.add_argument(
        "--extra-model-paths-config", nargs="+", action="append", default=None, metavar="PATH",
        help=f"more model folders, in ComfyUI's extra_model_paths.yaml format (BASE/{EXTRA_PATHS_FILE} is "
             "read when present)",
    )


def extra_model_configs(args: argparse.Namespace) -> list[Path]:
    """BASE/extra_model_paths.yaml when it exists, then every --extra-model-paths-config."""
    found = []
    default = Path(args.base_dir) / EXTRA_PATHS_FILE
    if default.is_file():
        found.append(default)
    for group in args.extra_model_paths_config or []:
        found.extend(Path(p) for p in group)
    return found


def app_folders(args: argparse.Namespace) -> Folders:
    from nodes.extra_model_paths import folders_with_extra_paths

    return folders_with_extra_paths(Path(args.base_dir), args.models_dir, extra_model_configs(args))
