"""Small valid workflows of core nodes, with values read from GET /object_info.

The fuzzer mutates these, so they must be cheap to run when a mutation still passes
validation: no sampling, no models, sizes kept at 64 pixels or less and batches at 2.
Templates whose nodes the registry lacks are skipped.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

# (class_type, {input: (index of the source step, output slot)}); ids are "1", "2", ...
Template = tuple[tuple[str, dict[str, tuple[int, int]]], ...]

TEMPLATES: tuple[Template, ...] = (
    (("EmptyImage", {}), ("ImageScale", {"image": (0, 0)}), ("ImageInvert", {"image": (1, 0)}),
     ("SaveImage", {"images": (2, 0)})),
    (("LoadImage", {}), ("ImageScale", {"image": (0, 0)}), ("SaveImage", {"images": (1, 0)})),
    (("LoadImage", {}), ("MaskToImage", {"mask": (0, 1)}), ("PreviewImage", {"images": (1, 0)})),
    (("EmptyLatentImage", {}), ("LatentUpscale", {"samples": (0, 0)}), ("LatentFlip", {"samples": (1, 0)}),
     ("SaveLatent", {"samples": (2, 0)})),
    (("EmptyLatentImage", {}), ("EmptyLatentImage", {}),
     ("LatentComposite", {"samples_to": (0, 0), "samples_from": (1, 0)}), ("SaveLatent", {"samples": (2, 0)})),
    (("SolidMask", {}), ("MaskToImage", {"mask": (0, 0)}), ("ImageBlur", {"image": (1, 0)}),
     ("PreviewImage", {"images": (2, 0)})),
    (("EmptyImage", {}), ("ImageCrop", {"image": (0, 0)}), ("ImagePadForOutpaint", {"image": (1, 0)}),
     ("MaskToImage", {"mask": (2, 1)}), ("SaveImage", {"images": (3, 0)})),
    (("EmptyImage", {}), ("EmptyImage", {}), ("ImageBatch", {"image1": (0, 0), "image2": (1, 0)}),
     ("ImageRotate", {"image": (2, 0)}), ("SaveImage", {"images": (3, 0)})),
    (("PrimitiveString", {}), ("StringConcatenate", {"string_a": (0, 0)}), ("PreviewAny", {"source": (1, 0)})),
)
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
SMALL = 64  # the largest size a generated value takes
CAPS = {"batch_size": 2, "amount": 2, "feathering": 8, "blur_radius": 3}


@dataclass
class Workflow:
    """A prompt plus what the mutators need to know about it."""

    prompt: dict[str, dict]
    values: list[tuple[str, str, list]] = field(default_factory=list)  # (node id, input, schema entry)
    links: list[tuple[str, str]] = field(default_factory=list)  # (node id, input) holding a link
    outputs: list[str] = field(default_factory=list)


def usable_templates(schema: dict) -> list[Template]:
    return [t for t in TEMPLATES if all(step[0] in schema for step in t)]


def input_type(entry: Any) -> str:
    """INT/FLOAT/STRING/BOOLEAN, COMBO for a list of choices, else the socket type."""
    if not isinstance(entry, list) or not entry:
        return "*"
    kind = entry[0]
    return "COMBO" if isinstance(kind, list) else str(kind)


def options(entry: list) -> dict:
    return entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}


def small_value(rng: random.Random, name: str, entry: list) -> Any:
    """A value inside the input's limits that keeps the run cheap."""
    kind, opts = input_type(entry), options(entry)
    if kind == "COMBO":
        choices = entry[0]
        return rng.choice(choices) if choices else opts.get("default", "")
    if kind == "BOOLEAN":
        return rng.choice([True, False])
    if kind == "STRING":
        default = opts.get("default", "")
        return default if rng.random() < 0.6 else rng.choice(["fuzz", "a b", "x" * 20, ""])
    if kind == "INT":
        low, high = int(opts.get("min", 0)), int(opts.get("max", SMALL))
        cap = max(low, min(high, CAPS.get(name, SMALL)))
        step = int(opts.get("step", 1)) or 1
        default = opts.get("default")
        if isinstance(default, int) and low <= default <= cap and rng.random() < 0.4:
            return default
        return low + step * rng.randint(0, (cap - low) // step)
    if kind == "FLOAT":
        low, high = float(opts.get("min", 0.0)), float(opts.get("max", 1.0))
        default = opts.get("default")
        if isinstance(default, (int, float)) and rng.random() < 0.5:
            return default
        return round(rng.uniform(low, min(high, low + 4.0)), 3)
    return None


def build(rng: random.Random, schema: dict) -> Workflow:
    """A random small workflow from the usable templates (KeyError if none fits)."""
    templates = usable_templates(schema)
    if not templates:
        raise KeyError("the registry has none of the fuzzer's template nodes")
    template = rng.choice(templates)
    flow = Workflow(prompt={})
    for index, (class_type, links) in enumerate(template):
        node_id = str(index + 1)
        info = schema[class_type]
        inputs: dict[str, Any] = {}
        for name, (source, slot) in links.items():
            inputs[name] = [str(source + 1), slot]
            flow.links.append((node_id, name))
        groups = info.get("input", {})
        for group in ("required", "optional"):
            for name, entry in (groups.get(group) or {}).items():
                if name in inputs or input_type(entry) not in WIDGET_TYPES:
                    continue
                if group == "optional" and rng.random() < 0.5:
                    continue
                inputs[name] = small_value(rng, name, entry)
                flow.values.append((node_id, name, entry))
        flow.prompt[node_id] = {"class_type": class_type, "inputs": inputs}
        if info.get("output_node"):
            flow.outputs.append(node_id)
    return flow


def request_body(flow: Workflow, **extra: Any) -> dict:
    """The POST /prompt body ComfyUI's frontend would send for `flow`."""
    body: dict[str, Any] = {"prompt": flow.prompt, "client_id": "fuzz",
                            "extra_data": {"extra_pnginfo": {"workflow": {"nodes": [], "links": []}}}}
    body.update(extra)
    return body
