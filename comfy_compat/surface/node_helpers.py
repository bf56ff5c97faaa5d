"""ComfyUI's `node_helpers`: conditioning edits, tolerant image opening, hashing, dtypes."""
from __future__ import annotations

import hashlib
from typing import Any, Callable

import torch
from PIL import ImageFile, UnidentifiedImageError

from nodes.conditioning_regions import with_values


def conditioning_set_values(conditioning: list, values: dict = {}, append: bool = False) -> list:  # noqa: B006
    """Each entry with `values` set in its extras (added to the old value with `append`)."""
    if not append:
        return with_values(conditioning, values)
    out = []
    for embedding, extras in conditioning:
        extras = dict(extras)
        for key, value in values.items():
            old = extras.get(key)
            extras[key] = value if old is None else old + value
        out.append([embedding, extras])
    return out


def conditioning_set_values_with_timestep_range(conditioning: list, values: dict = {},  # noqa: B006
                                                start_percent: float = 0.0, end_percent: float = 1.0) -> list:
    """`values` only within [start, end] of each entry's own range; the rest unchanged."""
    if start_percent > end_percent:
        return conditioning
    gap = 1e-5
    out = []
    for entry in conditioning:
        own_start = entry[1].get("start_percent", 0.0)
        own_end = entry[1].get("end_percent", 1.0)
        start, end = max(start_percent, own_start), min(end_percent, own_end)
        if start >= end:
            out.append(entry)
            continue
        if start > own_start:
            out += with_values([entry], {"start_percent": own_start, "end_percent": start - gap})
        out += with_values([entry], {**values, "start_percent": start, "end_percent": end})
        if end < own_end:
            out += with_values([entry], {"start_percent": end + gap, "end_percent": own_end})
    return out


def pillow(fn: Callable, arg: Any) -> Any:
    """fn(arg), retried with truncated images allowed when Pillow refuses the file."""
    try:
        return fn(arg)
    except (OSError, UnidentifiedImageError, ValueError):
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            return fn(arg)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def hasher() -> Callable:
    return hashlib.sha256


def string_to_torch_dtype(string: str) -> Any:
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(string)


def image_alpha_fix(destination: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Make `source` have as many channels as `destination` (drop alpha, or add an opaque one)."""
    if destination.shape[-1] < source.shape[-1]:
        source = source[..., : destination.shape[-1]]
    elif destination.shape[-1] > source.shape[-1]:
        alpha = torch.ones_like(source[..., :1])
        source = torch.cat([source, alpha], dim=-1)
    return destination, source


def is_link(value: Any) -> bool:
    from comfy_execution.graph_utils import is_link as link_test

    return link_test(value)


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
