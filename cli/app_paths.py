"""The app's folders from command-line flags."""
from __future__ import annotations

import argparse
from pathlib import Path

from nodes.folders import Folders

BASE_DIR = Path(__file__).resolve().parent.parent


def add_folder_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-dir", default=str(BASE_DIR), help="folder holding models/, input/, output/, temp/")
    parser.add_argument("--models-dir", default=None, help="models folder (default: BASE/models)")


def app_folders(args: argparse.Namespace) -> Folders:
    return Folders.under(Path(args.base_dir), Path(args.models_dir) if args.models_dir else None)
