"""An API-format workflow laid out as a UI-format graph (version 0.4), for clients that
only open UI workflows, such as ComfyUI's template browser showing the shipped workflows.

Nodes are placed in columns by their distance from the graph's sources; widget values
follow each node's input order, with the `control_after_generate` entry after seeds.
"""
from __future__ import annotations

from typing import Any

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
COLUMN_WIDTH, ROW_HEIGHT = 380, 260


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


SEED_NAMES = ("seed", "noise_seed")  # ComfyUI's frontend gives these a control widget unasked


def _options(spec: list) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def _is_widget(spec: list) -> bool:
    kind = spec[0] if spec else None
    return (isinstance(kind, list) or kind in WIDGET_TYPES) and not _options(spec).get("forceInput")


def _has_control(name: str, spec: list, options: dict) -> bool:
    return bool(options.get("control_after_generate", spec[0] == "INT" and name in SEED_NAMES))


def _ordered_inputs(info: dict) -> list[tuple[str, list]]:
    inputs = info.get("input", {})
    order = info.get("input_order") or {group: list(inputs.get(group, {})) for group in ("required", "optional")}
    return [(name, inputs[group][name]) for group in ("required", "optional")
            for name in order.get(group, []) if name in inputs.get(group, {})]


def _depths(prompt: dict) -> dict[str, int]:
    depth: dict[str, int] = {}

    def visit(node_id: str, seen: frozenset) -> int:
        if node_id in depth:
            return depth[node_id]
        sources = [v[0] for v in prompt[node_id].get("inputs", {}).values()
                   if _is_link(v) and v[0] in prompt and v[0] not in seen]
        depth[node_id] = 1 + max((visit(s, seen | {node_id}) for s in sources), default=-1)
        return depth[node_id]

    for node_id in prompt:
        visit(node_id, frozenset())
    return depth


def api_to_ui(prompt: dict, schemas: dict[str, dict]) -> dict:
    """The UI graph for `prompt` ({id: {"class_type", "inputs"}}); `schemas` is /object_info."""
    ids = {node_id: index + 1 for index, node_id in enumerate(sorted(prompt, key=lambda k: (len(k), k)))}
    depth = _depths(prompt)
    rows: dict[int, int] = {}
    nodes, links = [], []
    outputs_of: dict[str, list[dict]] = {}
    for node_id, node in prompt.items():
        info = schemas.get(node["class_type"], {})
        names = info.get("output_name") or info.get("output") or []
        outputs_of[node_id] = [{"name": str(name), "type": kind, "links": [], "slot_index": slot}
                               for slot, (name, kind) in enumerate(zip(names, info.get("output") or []))]
    for node_id, node in sorted(prompt.items(), key=lambda item: ids[item[0]]):
        class_type = node["class_type"]
        info = schemas.get(class_type, {})
        values = node.get("inputs", {})
        inputs, widgets = [], []
        for name, spec in _ordered_inputs(info):
            value = values.get(name)
            widget = _is_widget(spec)
            options = _options(spec)
            if _is_link(value) and value[0] in prompt:
                link_id = len(links) + 1
                entry = {"name": name, "type": "COMBO" if isinstance(spec[0], list) else spec[0], "link": link_id}
                if widget:
                    entry["widget"] = {"name": name}
                kind, source = entry["type"], outputs_of[value[0]]
                if value[1] < len(source):
                    source[value[1]]["links"].append(link_id)
                    kind = source[value[1]]["type"]
                links.append([link_id, ids[value[0]], value[1], ids[node_id], len(inputs), kind])
                inputs.append(entry)
                value = options.get("default")
            elif not widget:
                inputs.append({"name": name, "type": spec[0], "link": None})
                continue
            if widget:
                widgets.append(value if value is not None else options.get("default"))
                if _has_control(name, spec, options):
                    widgets.append("fixed")
        column = depth.get(node_id, 0)
        row = rows.get(column, 0)
        rows[column] = row + 1
        ui = {"id": ids[node_id], "type": class_type, "pos": [40 + column * COLUMN_WIDTH, 40 + row * ROW_HEIGHT],
              "size": [320, 120 + 24 * len(widgets)], "flags": {}, "order": len(nodes), "mode": 0,
              "inputs": inputs, "outputs": outputs_of[node_id], "properties": {"Node name for S&R": class_type},
              "widgets_values": widgets}
        title = (node.get("_meta") or {}).get("title")
        if title and title != info.get("display_name"):
            ui["title"] = title
        nodes.append(ui)
    return {"last_node_id": len(nodes), "last_link_id": len(links), "nodes": nodes, "links": links,
            "groups": [], "config": {}, "extra": {}, "version": 0.4}
