#!/usr/bin/env python
"""What a node-label translation (frontend/locales/<lang>/*.json) must contain, and what one lacks.

The browser editor draws node titles, descriptions, input/output labels, input tooltips, socket
types and menu categories from `/object_info`; a locale translates them in this shape (files in
one language folder are deep-merged, later names winning, and user files are merged on top)::

    {
      "name": "中文",
      "nodes": {"KSampler": {"display_name": "...", "description": "...",
                             "inputs": {"seed": {"name": "(optional override)", "tooltip": "..."}},
                             "outputs": {"LATENT": "(optional override)"}}},
      "inputs": {"seed": "..."},          # every input name, used when a node has no override
      "outputs": {"LATENT": "..."},       # every output name
      "types": {"LATENT": "..."},         # every socket type
      "categories": {"sampling": "..."},  # every category path segment ("conditioning/controlnet")
      "values": {"randomize": "..."}      # optional: labels of word-like combo choices
    }

`ui.json` in the same folder holds the editor's own strings and is not read here.

Usage (from the repository root)::

    python -m scripts.locale_strings zh                 # list missing keys; exit 1 if any
    python -m scripts.locale_strings zh extra.json      # the same with user files merged on top
    python -m scripts.locale_strings fr --template      # JSON of the missing keys with English text
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, Optional

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "frontend" / "locales"
UI_FILE = "ui.json"  # the editor's own buttons and menus: someone else's file, not node labels

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}  # as in frontend/js/schema.js
CONTROL_VALUES = ["fixed", "increment", "decrement", "randomize"]
BOOLEAN_VALUES = ["true", "false"]  # what a BOOLEAN widget draws (frontend/js/widgets.js)

# Widgets the frontend adds itself (frontend/js/schema.js), by name: the seed's control, the
# upload button ("choose file to upload") and the Primitive node's value.
FRONTEND_WIDGETS = {"control_after_generate": "control after generate", "upload": "choose file to upload",
                    "value": "value"}

# The frontend-only nodes, mirroring FRONTEND_NODES in frontend/js/schema.js (never sent to the server).
_NOTE_TEXT = {"required": {"text": ["STRING", {"multiline": True, "default": ""}]}, "optional": {}}
FRONTEND_NODES: dict[str, dict] = {
    "Reroute": {
        "name": "Reroute", "display_name": "Reroute", "category": "utils",
        "description": "Passes a value through; tidies wires.",
        "input": {"required": {"": ["*", {}]}, "optional": {}}, "output": ["*"], "output_name": [""],
    },
    "PrimitiveNode": {
        "name": "PrimitiveNode", "display_name": "Primitive", "category": "utils",
        "description": "A value for widget inputs.",
        "input": {"required": {}, "optional": {}}, "output": ["*"], "output_name": ["connect to widget input"],
    },
    "Note": {
        "name": "Note", "display_name": "Note", "category": "utils", "description": "A note on the canvas.",
        "input": _NOTE_TEXT, "output": [], "output_name": [],
    },
    "MarkdownNote": {
        "name": "MarkdownNote", "display_name": "Markdown Note", "category": "utils",
        "description": "A note on the canvas.", "input": _NOTE_TEXT, "output": [], "output_name": [],
    },
}


def core_object_info(with_frontend: bool = True) -> dict:
    """`/object_info` for the core nodes (custom nodes left out), plus the frontend-only ones.

    Imports `nodes` (and so torch) on first use.
    """
    import nodes
    from nodes.folders import Folders
    from nodes.registry import object_info

    registry = nodes.REGISTRY
    core = [name for name in registry.names() if registry.get(name).__module__.split(".")[0] == "nodes"]
    with tempfile.TemporaryDirectory() as tmp:
        info = object_info(registry, Folders.under(Path(tmp)), names=core)
    if with_frontend:
        info.update(json.loads(json.dumps(FRONTEND_NODES)))
    return info


def _inputs(entry: dict) -> Iterable[tuple[str, list]]:
    for group in ("required", "optional"):
        for name, spec in (entry.get("input", {}).get(group) or {}).items():
            yield name, spec if isinstance(spec, list) else [spec]


def _is_widget(spec: list) -> bool:
    return bool(spec) and (isinstance(spec[0], list) or spec[0] in WIDGET_TYPES)


def _choices(spec: list) -> list:
    if spec and isinstance(spec[0], list):
        return spec[0]
    if spec and spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return list(spec[1].get("options") or [])
    return []


def required_keys(object_info: dict) -> dict:
    """Everything a complete locale must translate, in the locale's own shape, with the English text.

    {"nodes": {id: {"display_name", "description"?, "inputs": {name: {"tooltip"}}}},
     "inputs": {name: name}, "outputs": {name: name}, "types": {type: type}, "categories": {segment: segment}}
    """
    keys: dict[str, dict] = {"nodes": {}, "inputs": {}, "outputs": {}, "types": {}, "categories": {}}
    uses_control = uses_upload = False
    for node_id, entry in object_info.items():
        node: dict[str, Any] = {"display_name": entry.get("display_name") or node_id}
        if entry.get("description"):
            node["description"] = entry["description"]
        tooltips: dict[str, dict] = {}
        for name, spec in _inputs(entry):
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if name:
                keys["inputs"][name] = name
            if options.get("tooltip"):
                tooltips[name] = {"tooltip": options["tooltip"]}
            if _is_widget(spec):
                uses_control = uses_control or bool(options.get("control_after_generate"))
                uses_upload = uses_upload or bool(options.get("image_upload"))
            elif isinstance(spec[0], str):
                keys["types"][spec[0]] = spec[0]
        if tooltips:
            node["inputs"] = tooltips
        names = entry.get("output_name") or []
        for i, out_type in enumerate(entry.get("output") or []):
            keys["types"][out_type] = out_type
            name = names[i] if i < len(names) and names[i] is not None else out_type
            if name:
                keys["outputs"][name] = name
        for segment in (entry.get("category") or "").split("/"):
            if segment:
                keys["categories"][segment] = segment
        keys["nodes"][node_id] = node
        if node_id == "PrimitiveNode":
            keys["inputs"]["value"] = FRONTEND_WIDGETS["value"]
    if uses_control:
        keys["inputs"]["control_after_generate"] = FRONTEND_WIDGETS["control_after_generate"]
    if uses_upload:
        keys["inputs"]["upload"] = FRONTEND_WIDGETS["upload"]
    return keys


def _leaves(tree: dict, prefix: tuple = ()) -> Iterable[tuple[tuple, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def _lookup(tree: Any, path: tuple) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def path_name(path: Iterable[str]) -> str:
    return ".".join(str(p) for p in path)


def missing(locale: dict, object_info: dict) -> list[str]:
    """Dotted paths ("nodes.KSampler.inputs.seed.tooltip", "categories.sampling") the locale lacks
    or leaves empty."""
    out = []
    for path, _english in _leaves(required_keys(object_info)):
        value = _lookup(locale, path)
        if not isinstance(value, str) or not value.strip():
            out.append(path_name(path))
    return out


def known_values(object_info: dict) -> set[str]:
    """Labels the `values` section may translate: combo choices and the frontend's own values."""
    found = set(CONTROL_VALUES) | set(BOOLEAN_VALUES)
    for entry in object_info.values():
        for _name, spec in _inputs(entry):
            found.update(str(choice) for choice in _choices(spec))
    return found


def unused(locale: dict, object_info: dict) -> list[str]:
    """Node-specific entries and values that match nothing in `object_info` (stale translations)."""
    out = []
    for node_id, node in (locale.get("nodes") or {}).items():
        entry = object_info.get(node_id)
        if entry is None:
            out.append(path_name(("nodes", node_id)))
            continue
        specs = dict(_inputs(entry))
        for name, item in (node.get("inputs") or {}).items():
            if name not in specs:
                out.append(path_name(("nodes", node_id, "inputs", name)))
            elif isinstance(item, dict) and "tooltip" in item:
                options = specs[name][1] if len(specs[name]) > 1 and isinstance(specs[name][1], dict) else {}
                if not options.get("tooltip"):
                    out.append(path_name(("nodes", node_id, "inputs", name, "tooltip")))
        names = set(entry.get("output_name") or []) | set(entry.get("output") or [])
        for name in node.get("outputs") or {}:
            if name not in names:
                out.append(path_name(("nodes", node_id, "outputs", name)))
    choices = known_values(object_info)
    for value in locale.get("values") or {}:
        if value not in choices:
            out.append(path_name(("values", value)))
    return out


def locale_files(lang: str | Path, include_ui: bool = False) -> list[Path]:
    """The JSON files of a language folder (a code under frontend/locales, or a path), by name."""
    folder = Path(lang) if Path(lang).is_dir() else LOCALES / str(lang)
    return [p for p in sorted(folder.glob("*.json")) if include_ui or p.name != UI_FILE]


def load_locale(lang: str | Path, extra_files: Iterable[str | Path] = ()) -> dict:
    """The deep merge of a language folder's node-label files, then of `extra_files` (user files),
    by the server's own merge rule."""
    from studio_extras.locales import deep_merge

    merged: dict = {}
    for path in [*locale_files(lang), *map(Path, extra_files)]:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a locale file must hold a JSON object")
        merged = deep_merge(merged, data)
    return merged


def template(keys: dict, wanted: Iterable[str]) -> dict:
    """The missing paths as a nested dict holding the English text: a start for a translation."""
    wanted = set(wanted)
    out: dict = {}
    for path, english in _leaves(keys):
        if path_name(path) in wanted:
            tree = out
            for key in path[:-1]:
                tree = tree.setdefault(key, {})
            tree[path[-1]] = english
    return out


def main(argv: Optional[list[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m scripts.locale_strings", description=__doc__.split("\n")[0])
    parser.add_argument("lang", help="language code under frontend/locales (zh) or a folder")
    parser.add_argument("extra", nargs="*", help="user locale files merged on top, in order")
    parser.add_argument("--template", action="store_true", help="print the missing keys as JSON with the English text")
    args = parser.parse_args(argv)

    info = core_object_info()
    locale = load_locale(args.lang, args.extra)
    lacking = missing(locale, info)
    if args.template:
        print(json.dumps(template(required_keys(info), lacking), ensure_ascii=False, indent=2))
        return 1 if lacking else 0
    for path in lacking:
        print(f"missing: {path}")
    for path in unused(locale, info):
        print(f"unused:  {path}")
    print(f"{len(lacking)} missing of {sum(1 for _ in _leaves(required_keys(info)))} required", file=sys.stderr)
    return 1 if lacking else 0


if __name__ == "__main__":
    if __package__ in (None, ""):  # run as a file: make the repository importable
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
