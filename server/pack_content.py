"""What node packs ship besides nodes, as ComfyUI's frontend asks for it: translations
(`locales/<lang>/main.json` and friends), example workflows and subgraph blueprints."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXTRA_LOCALE_FILES = ("nodeDefs.json", "commands.json", "settings.json")
EXAMPLE_FOLDERS = ("example_workflows", "example", "examples", "workflow", "workflows")
EXAMPLE_SUFFIXES = (".json", ".jpg", ".jpeg", ".png", ".webp")  # workflows and their thumbnails
SUBGRAPH_FOLDER = "subgraphs"
MAX_FILE_BYTES = 8 * 1024 * 1024


def _read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            log.warning("%s is larger than %d bytes; skipped", path, MAX_FILE_BYTES)
            return None
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s could not be read: %s", path, exc)
        return None


def deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def pack_translations(pack_dirs: dict[str, Path]) -> dict[str, dict]:
    """{language: translations}, every pack's merged in pack-name order."""
    merged: dict[str, dict] = {}
    for name in sorted(pack_dirs):
        for lang_dir in sorted((pack_dirs[name] / "locales").glob("*/")):
            strings = _read_json(lang_dir / "main.json")
            strings = strings if isinstance(strings, dict) else {}
            for extra in EXTRA_LOCALE_FILES:
                data = _read_json(lang_dir / extra)
                if isinstance(data, dict) and data:
                    strings[extra.split(".")[0]] = data
            if strings:
                merged[lang_dir.name] = deep_merge(merged.get(lang_dir.name, {}), strings)
    return merged


def example_folder(pack_dir: Path) -> Path | None:
    for name in EXAMPLE_FOLDERS:
        if (pack_dir / name).is_dir():
            return pack_dir / name
    return None


def pack_workflow_templates(pack_dirs: dict[str, Path]) -> dict[str, list[str]]:
    """{pack: [example workflow names without .json]}; packs without examples are left out."""
    out: dict[str, list[str]] = {}
    for name in sorted(pack_dirs):
        names: list[str] = []
        for folder_name in EXAMPLE_FOLDERS:
            folder = pack_dirs[name] / folder_name
            names += sorted(p.stem for p in folder.glob("*.json") if p.is_file())
        if names:
            out[name] = names
    return out


def example_file(pack_dirs: dict[str, Path], pack: str, file_name: str) -> Path | None:
    """A pack's example workflow by file name (a plain name, nothing with folders)."""
    if pack not in pack_dirs or "/" in file_name or "\\" in file_name or file_name.startswith("."):
        return None
    if Path(file_name).suffix.lower() not in EXAMPLE_SUFFIXES:
        return None
    for folder_name in EXAMPLE_FOLDERS:
        path = pack_dirs[pack] / folder_name / file_name
        if path.is_file():
            return path
    return None


def pack_subgraphs(pack_dirs: dict[str, Path]) -> dict[str, dict]:
    """{id: {"source", "name", "info": {"node_pack"}, "path"}}: the id is a hash of where
    the file is, so it stays the same across restarts."""
    out: dict[str, dict] = {}
    for name in sorted(pack_dirs):
        for path in sorted((pack_dirs[name] / SUBGRAPH_FOLDER).glob("*.json")):
            if not path.is_file():
                continue
            key = hashlib.sha256(f"custom_node/{name}/{path.name}".encode()).hexdigest()
            out[key] = {"source": "custom_node", "name": path.stem,
                        "info": {"node_pack": f"custom_nodes.{name}"}, "path": path}
    return out


def subgraph_listing(entries: dict[str, dict]) -> dict[str, dict]:
    return {key: {k: v for k, v in entry.items() if k != "path"} for key, entry in entries.items()}


def subgraph_with_data(entry: dict) -> dict | None:
    """The entry with the file's text as "data"; None when the file went or cannot be read."""
    path: Path = entry["path"]
    shown = {k: v for k, v in entry.items() if k != "path"}
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        shown["data"] = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("subgraph %s could not be read: %s", path, exc)
        return None
    return shown
