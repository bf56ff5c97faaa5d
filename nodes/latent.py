"""Latent creation and resizing nodes. LATENT is {"samples": [B,4,h,w], "noise_mask"?: ...}."""
from __future__ import annotations

import torch

from .registry import Node, register_node
from .resize import CROP_METHODS, UPSCALE_METHODS, fill_missing_side, resize
from .spec import Combo, Float, Int, Output, Socket
from .memory_checks import check_resize, check_tensor

MAX_RESOLUTION = 16384
LATENT_CHANNELS = 4
LATENT_DOWNSCALE = 8


@register_node("EmptyLatentImage", category="latent", display_name="Empty Latent Image")
class EmptyLatentImage(Node):
    """A batch of empty latents to start text-to-image sampling from."""

    width = Int(default=512, min=16, max=MAX_RESOLUTION, step=8)
    height = Int(default=512, min=16, max=MAX_RESOLUTION, step=8)
    batch_size = Int(default=1, min=1, max=4096)
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, width: int, height: int, batch_size: int) -> tuple:
        shape = (batch_size, LATENT_CHANNELS, height // LATENT_DOWNSCALE, width // LATENT_DOWNSCALE)
        check_tensor("EmptyLatentImage", "latent", shape)
        return ({"samples": torch.zeros(shape)},)


def _with_samples(latent: dict, samples: torch.Tensor) -> dict:
    out = {k: v for k, v in latent.items() if k != "noise_mask"}
    out["samples"] = samples
    return out


@register_node("LatentUpscale", category="latent", display_name="Upscale Latent")
class LatentUpscale(Node):
    """Resizes latents to a pixel size (a zero side keeps the aspect ratio)."""

    samples = Socket("LATENT")
    upscale_method = Combo(choices=UPSCALE_METHODS, default="nearest-exact")
    width = Int(default=512, min=0, max=MAX_RESOLUTION, step=8)
    height = Int(default=512, min=0, max=MAX_RESOLUTION, step=8)
    crop = Combo(choices=CROP_METHODS, default="disabled")
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, samples: dict, upscale_method: str, width: int, height: int, crop: str) -> tuple:
        latent = samples["samples"]
        old_w, old_h = latent.shape[-1] * LATENT_DOWNSCALE, latent.shape[-2] * LATENT_DOWNSCALE
        width, height = fill_missing_side(old_w, old_h, width, height, LATENT_DOWNSCALE)
        check_resize("LatentUpscale", "latent", latent.shape[0], latent.shape[1], max(1, height // LATENT_DOWNSCALE),
                     max(1, width // LATENT_DOWNSCALE))
        scaled = resize(latent, max(1, width // LATENT_DOWNSCALE), max(1, height // LATENT_DOWNSCALE),
                        upscale_method, crop)
        return (_with_samples(samples, scaled),)


@register_node("LatentUpscaleBy", category="latent", display_name="Upscale Latent By")
class LatentUpscaleBy(Node):
    """Resizes latents by a factor."""

    samples = Socket("LATENT")
    upscale_method = Combo(choices=UPSCALE_METHODS, default="nearest-exact")
    scale_by = Float(default=1.5, min=0.01, max=8.0, step=0.01)
    OUTPUTS = (Output("LATENT", "LATENT"),)

    def execute(self, ctx, samples: dict, upscale_method: str, scale_by: float) -> tuple:
        latent = samples["samples"]
        width = max(1, round(latent.shape[-1] * scale_by))
        height = max(1, round(latent.shape[-2] * scale_by))
        check_resize("LatentUpscaleBy", "latent", latent.shape[0], latent.shape[1], height, width)
        return (_with_samples(samples, resize(latent, width, height, upscale_method)),)
