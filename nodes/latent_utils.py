"""Latent batch, composite, crop, flip and rotate nodes (ComfyUI names and inputs).

Pixel-valued inputs (x, y, width, height, feather) are divided by 8 for the latent, as in
ComfyUI. A latent's noise_mask follows the samples where ComfyUI keeps it.
"""
from __future__ import annotations

import math

import torch

from .latent import LATENT_DOWNSCALE, MAX_RESOLUTION
from .registry import Node, register_node
from .resize import resize
from .spec import Combo, Float, Int, Output, Socket
from .latent_math import repeat_to_batch
from .memory_checks import check_tensor

FLIPS = ["x-axis: vertically", "y-axis: horizontally"]
ROTATIONS = ["none", "90 degrees", "180 degrees", "270 degrees"]


def _copy(latent: dict, samples: torch.Tensor) -> dict:
    out = dict(latent)
    out["samples"] = samples
    return out


@register_node("LatentComposite", category="latent", display_name="Latent Composite")
class LatentComposite(Node):
    """Pastes one latent into another at (x, y), optionally feathering the pasted edges."""

    samples_to = Socket("LATENT")
    samples_from = Socket("LATENT")
    x = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    y = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    feather = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, samples_to: dict, samples_from: dict, x: int, y: int, feather: int) -> tuple:
        from diffusion.latent_ops import composite

        source = repeat_to_batch(samples_from["samples"], samples_to["samples"].shape[0])  # as ComfyUI
        out = composite(samples_to["samples"], source, x // LATENT_DOWNSCALE,
                        y // LATENT_DOWNSCALE, feather // LATENT_DOWNSCALE)
        return (_copy(samples_to, out),)


@register_node("LatentBlend", category="_for_testing", display_name="Latent Blend")
class LatentBlend(Node):
    """Mixes two latents: samples1 * blend_factor + samples2 * (1 - blend_factor)."""

    samples1 = Socket("LATENT")
    samples2 = Socket("LATENT")
    blend_factor = Float(default=0.5, min=0.0, max=1.0, step=0.01)
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, samples1: dict, samples2: dict, blend_factor: float) -> tuple:
        a, b = samples1["samples"], samples2["samples"]
        if a.shape != b.shape:
            b = resize(b, a.shape[3], a.shape[2], "bicubic", crop="center")
        return (_copy(samples1, a * blend_factor + b * (1.0 - blend_factor)),)


@register_node("LatentFromBatch", category="latent/batch", display_name="Latent From Batch")
class LatentFromBatch(Node):
    """Picks `length` latents starting at `batch_index` from a batch."""

    samples = Socket("LATENT")
    batch_index = Int(default=0, min=0, max=63)
    length = Int(default=1, min=1, max=64)
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, samples: dict, batch_index: int, length: int) -> tuple:
        s = samples["samples"]
        start = min(s.shape[0] - 1, batch_index)
        length = min(s.shape[0] - start, length)
        out = _copy(samples, s[start:start + length].clone())
        # remember which images these were, so the sampler draws their noise (ComfyUI's batch_index)
        indices = samples.get("batch_index") or list(range(s.shape[0]))
        out["batch_index"] = list(indices[start:start + length])
        mask = samples.get("noise_mask")
        if mask is not None and mask.shape[0] > 1:
            if mask.shape[0] < s.shape[0]:
                mask = mask.repeat(math.ceil(s.shape[0] / mask.shape[0]), 1, 1, 1)[: s.shape[0]]
            out["noise_mask"] = mask[start:start + length].clone()
        return (out,)


@register_node("RepeatLatentBatch", category="latent/batch", display_name="Repeat Latent Batch")
class RepeatLatentBatch(Node):
    """Repeats a batch of latents `amount` times."""

    samples = Socket("LATENT")
    amount = Int(default=1, min=1, max=64)
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, samples: dict, amount: int) -> tuple:
        s = samples["samples"]
        check_tensor("RepeatLatentBatch", "latent", (s.shape[0] * amount, *s.shape[1:]))
        out = _copy(samples, s.repeat(amount, 1, 1, 1))
        indices = samples.get("batch_index")
        if indices:
            offset = max(indices) - min(indices) + 1
            out["batch_index"] = list(indices) + [i + k * offset for k in range(1, amount) for i in indices]
        mask = samples.get("noise_mask")
        if mask is not None and mask.shape[0] > 1:
            if mask.shape[0] < s.shape[0]:
                mask = mask.repeat(math.ceil(s.shape[0] / mask.shape[0]), 1, 1, 1)[: s.shape[0]]
            out["noise_mask"] = mask.repeat(amount, 1, 1, 1)
        return (out,)


@register_node("LatentCrop", category="latent/transform", display_name="Crop Latent")
class LatentCrop(Node):
    """Crops latents to width x height pixels from (x, y)."""

    samples = Socket("LATENT")
    width = Int(default=512, min=64, max=MAX_RESOLUTION, step=8)
    height = Int(default=512, min=64, max=MAX_RESOLUTION, step=8)
    x = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    y = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, samples: dict, width: int, height: int, x: int, y: int) -> tuple:
        s = samples["samples"]
        x = max(0, min(x // LATENT_DOWNSCALE, s.shape[3] - LATENT_DOWNSCALE))
        y = max(0, min(y // LATENT_DOWNSCALE, s.shape[2] - LATENT_DOWNSCALE))
        h, w = height // LATENT_DOWNSCALE, width // LATENT_DOWNSCALE
        return (_copy(samples, s[:, :, y:y + h, x:x + w]),)


@register_node("LatentFlip", category="latent/transform", display_name="Flip Latent")
class LatentFlip(Node):
    """Mirrors latents: "x-axis" flips top to bottom, "y-axis" left to right."""

    samples = Socket("LATENT")
    flip_method = Combo(choices=FLIPS)
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, samples: dict, flip_method: str) -> tuple:
        dim = 2 if flip_method.startswith("x") else 3
        return (_copy(samples, torch.flip(samples["samples"], dims=[dim])),)


@register_node("LatentRotate", category="latent/transform", display_name="Rotate Latent")
class LatentRotate(Node):
    """Rotates latents clockwise by quarter turns."""

    samples = Socket("LATENT")
    rotation = Combo(choices=ROTATIONS)
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, samples: dict, rotation: str) -> tuple:
        quarter_turns = {"none": 0, "90 degrees": 1, "180 degrees": 2, "270 degrees": 3}[rotation]
        return (_copy(samples, torch.rot90(samples["samples"], k=quarter_turns, dims=[3, 2])),)
