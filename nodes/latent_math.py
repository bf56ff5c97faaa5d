"""Latent arithmetic, batching, cutting and operation nodes (ComfyUI's latent/advanced and
latent/batch). Latents are dicts with "samples" [B,C,H,W] and optional "noise_mask" and
"batch_index"."""
from __future__ import annotations

from typing import Optional

import torch

from .latent import MAX_RESOLUTION
from .registry import Node, register_node
from .resize import resize
from .spec import Boolean, Combo, Float, Int, Output, Socket

ADVANCED = "latent/advanced"
OPERATIONS = "latent/advanced/operations"
LATENT_OUT = (Output("LATENT", "LATENT"),)
OPERATION_OUT = (Output("LATENT_OPERATION", "LATENT_OPERATION"),)


def _with(latent: dict, samples: torch.Tensor) -> dict:
    out = dict(latent)
    out["samples"] = samples
    return out


def repeat_to_batch(samples: torch.Tensor, batch: int) -> torch.Tensor:
    if samples.shape[0] == batch:
        return samples
    return samples.repeat((batch + samples.shape[0] - 1) // samples.shape[0], *([1] * (samples.ndim - 1)))[:batch]


def shaped_like(target: torch.Tensor, samples: torch.Tensor, repeat_batch: bool = True) -> torch.Tensor:
    """`samples` resized (bilinear, centre-cropped) to target's size and, optionally, batch."""
    if samples.shape[1:] != target.shape[1:]:
        samples = resize(samples, target.shape[-1], target.shape[-2], "bilinear", "center")
    return repeat_to_batch(samples, target.shape[0]) if repeat_batch else samples


@register_node("LatentAdd", category=ADVANCED)
class LatentAdd(Node):
    """samples1 + samples2 (samples2 resized to samples1)."""

    samples1 = Socket("LATENT")
    samples2 = Socket("LATENT")
    OUTPUTS = LATENT_OUT

    def execute(self, ctx, samples1: dict, samples2: dict) -> tuple:
        s1 = samples1["samples"]
        return (_with(samples1, s1 + shaped_like(s1, samples2["samples"])),)


@register_node("LatentSubtract", category=ADVANCED)
class LatentSubtract(Node):
    """samples1 - samples2 (samples2 resized to samples1)."""

    samples1 = Socket("LATENT")
    samples2 = Socket("LATENT")
    OUTPUTS = LATENT_OUT

    def execute(self, ctx, samples1: dict, samples2: dict) -> tuple:
        s1 = samples1["samples"]
        return (_with(samples1, s1 - shaped_like(s1, samples2["samples"])),)


@register_node("LatentMultiply", category=ADVANCED)
class LatentMultiply(Node):
    """samples x multiplier."""

    samples = Socket("LATENT")
    multiplier = Float(default=1.0, min=-10.0, max=10.0, step=0.01)
    OUTPUTS = LATENT_OUT

    def execute(self, ctx, samples: dict, multiplier: float) -> tuple:
        return (_with(samples, samples["samples"] * multiplier),)


def interpolate(s1: torch.Tensor, s2: torch.Tensor, ratio: float) -> torch.Tensor:
    """Blend the directions of each pixel's channel vector by ratio, and their lengths
    separately, so the mix does not lose magnitude as a plain lerp does."""
    len1 = torch.linalg.vector_norm(s1, dim=1, keepdim=True)
    len2 = torch.linalg.vector_norm(s2, dim=1, keepdim=True)
    mixed = torch.nan_to_num(s1 / len1) * ratio + torch.nan_to_num(s2 / len2) * (1.0 - ratio)
    length = len1 * ratio + len2 * (1.0 - ratio)
    return torch.nan_to_num(mixed / torch.linalg.vector_norm(mixed, dim=1, keepdim=True)) * length


@register_node("LatentInterpolate", category=ADVANCED)
class LatentInterpolate(Node):
    """Interpolate two latents (ratio 1: samples1), per-pixel direction and length apart."""

    samples1 = Socket("LATENT")
    samples2 = Socket("LATENT")
    ratio = Float(default=1.0, min=0.0, max=1.0, step=0.01)
    OUTPUTS = LATENT_OUT

    def execute(self, ctx, samples1: dict, samples2: dict, ratio: float) -> tuple:
        s1 = samples1["samples"]
        return (_with(samples1, interpolate(s1, shaped_like(s1, samples2["samples"]), ratio)),)


@register_node("LatentBatch", category="latent/batch")
class LatentBatch(Node):
    """samples2 appended to samples1's batch (resized to it); batch indices kept for the seeds."""

    samples1 = Socket("LATENT")
    samples2 = Socket("LATENT")
    OUTPUTS = LATENT_OUT

    def execute(self, ctx, samples1: dict, samples2: dict) -> tuple:
        s1 = samples1["samples"]
        s2 = shaped_like(s1, samples2["samples"], repeat_batch=False)
        out = _with(samples1, torch.cat((s1, s2), dim=0))
        out["batch_index"] = (list(samples1.get("batch_index", range(s1.shape[0])))
                              + list(samples2.get("batch_index", range(s2.shape[0]))))
        out.pop("noise_mask", None)
        return (out,)


@register_node("LatentBatchSeedBehavior", category=ADVANCED)
class LatentBatchSeedBehavior(Node):
    """fixed: every image of the batch gets the first one's noise; random: each its own."""

    samples = Socket("LATENT")
    seed_behavior = Combo(choices=["random", "fixed"], default="fixed")
    OUTPUTS = LATENT_OUT

    def execute(self, ctx, samples: dict, seed_behavior: str) -> tuple:
        out = dict(samples)
        if seed_behavior == "random":
            out.pop("batch_index", None)
        else:
            first = list(samples.get("batch_index", [0]))[0]
            out["batch_index"] = [first] * samples["samples"].shape[0]
        return (out,)


DIMS = {"x": -1, "y": -2, "t": -3}


@register_node("LatentConcat", category=ADVANCED)
class LatentConcat(Node):
    """Join two latents side by side (x), stacked (y) or in time (t); "-" puts samples2 first."""

    samples1 = Socket("LATENT")
    samples2 = Socket("LATENT")
    dim = Combo(choices=["x", "-x", "y", "-y", "t", "-t"])
    OUTPUTS = LATENT_OUT

    def execute(self, ctx, samples1: dict, samples2: dict, dim: str) -> tuple:
        s1 = samples1["samples"]
        s2 = repeat_to_batch(samples2["samples"], s1.shape[0])
        pair = (s2, s1) if dim.startswith("-") else (s1, s2)
        return (_with(samples1, torch.cat(pair, dim=DIMS[dim[-1]])),)


@register_node("LatentCut", category=ADVANCED)
class LatentCut(Node):
    """`amount` rows, columns or frames from `index` (negative: from the end)."""

    samples = Socket("LATENT")
    dim = Combo(choices=["x", "y", "t"])
    index = Int(default=0, min=-MAX_RESOLUTION, max=MAX_RESOLUTION, step=1)
    amount = Int(default=1, min=1, max=MAX_RESOLUTION, step=1)
    OUTPUTS = LATENT_OUT

    def execute(self, ctx, samples: dict, dim: str, index: int, amount: int) -> tuple:
        s = samples["samples"]
        axis = s.ndim + DIMS[dim]
        size = s.shape[axis]
        if index >= 0:
            index = min(index, size - 1)
            amount = min(size - index, amount)
        else:
            index = max(index, -size)
            amount = min(-index, amount)
        return (_with(samples, torch.narrow(s, axis, index % size, amount)),)


@register_node("LatentCompositeMasked", category="latent")
class LatentCompositeMasked(Node):
    """Paste `source` onto `destination` at (x, y) pixels (multiples of 8), through the mask."""

    destination = Socket("LATENT")
    source = Socket("LATENT")
    x = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    y = Int(default=0, min=0, max=MAX_RESOLUTION, step=8)
    resize_source = Boolean(default=False)
    mask = Socket("MASK", optional=True)
    OUTPUTS = LATENT_OUT

    def execute(self, ctx, destination: dict, source: dict, x: int, y: int, resize_source: bool,
                mask: Optional[torch.Tensor] = None) -> tuple:
        from .image_ops import composite_images

        out = composite_images(destination["samples"], source["samples"], x, y, resize_source, mask, multiplier=8)
        return (_with(destination, out),)


@register_node("LatentApplyOperation", category=OPERATIONS)
class LatentApplyOperation(Node):
    """Apply a LATENT_OPERATION to a latent."""

    samples = Socket("LATENT")
    operation = Socket("LATENT_OPERATION")
    OUTPUTS = LATENT_OUT

    def execute(self, ctx, samples: dict, operation) -> tuple:
        return (_with(samples, operation(latent=samples["samples"])),)


@register_node("LatentApplyOperationCFG", category=OPERATIONS)
class LatentApplyOperationCFG(Node):
    """A model whose guidance term (cond - uncond) goes through the operation every step."""

    model = Socket("MODEL")
    operation = Socket("LATENT_OPERATION")
    OUTPUTS = (Output("MODEL", "MODEL"),)

    def execute(self, ctx, model, operation) -> tuple:
        from diffusion.latent_operations import cfg_hook

        patched = model.clone()
        patched.set_model_sampler_pre_cfg_function(cfg_hook(operation))
        return (patched,)


@register_node("LatentOperationTonemapReinhard", category=OPERATIONS)
class LatentOperationTonemapReinhard(Node):
    """Reinhard tone mapping of the latent's per-pixel magnitudes (tames high cfg)."""

    multiplier = Float(default=1.0, min=0.0, max=100.0, step=0.01)
    OUTPUTS = OPERATION_OUT

    def execute(self, ctx, multiplier: float) -> tuple:
        from diffusion.latent_operations import tonemap_reinhard

        return (tonemap_reinhard(multiplier),)


@register_node("LatentOperationSharpen", category=OPERATIONS)
class LatentOperationSharpen(Node):
    """Unsharp-mask the latent's per-pixel directions."""

    sharpen_radius = Int(default=9, min=1, max=31, step=1)
    sigma = Float(default=1.0, min=0.1, max=10.0, step=0.1)
    alpha = Float(default=0.1, min=0.0, max=5.0, step=0.01)
    OUTPUTS = OPERATION_OUT

    def execute(self, ctx, sharpen_radius: int, sigma: float, alpha: float) -> tuple:
        from diffusion.latent_operations import sharpen

        return (sharpen(sharpen_radius, sigma, alpha),)
