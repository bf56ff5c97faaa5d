"""Rewrite tests/data/object_info_core.json (every core node's schema) after an intended
change to the core nodes."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import nodes
from nodes.folders import Folders
from nodes.registry import object_info
from tests.test_registry import SNAPSHOT, core_names

if __name__ == "__main__":
    info = object_info(nodes.REGISTRY, Folders.under(Path(tempfile.mkdtemp())), names=core_names())
    SNAPSHOT.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}")
