"""Live previews: a cheap latent -> RGB approximation, no VAE decode.

Each SD latent channel maps almost linearly to colour; a fixed 4x3 matrix (plus bias)
per family gives a recognisable thumbnail for every sampler step at the cost of one
small matmul. Factors are ComfyUI's published latent_rgb_factors (model-space latents).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from diffusion.types import ModelFamily

# rows: latent channels 0..3; columns: R, G, B
_SD1_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
_SDXL_FACTORS = (
    (0.3920, 0.4054, 0.4549),
    (-0.2634, -0.0196, 0.0653),
    (0.0568, 0.1687, -0.0755),
    (-0.3112, -0.2359, -0.2076),
)
_SDXL_BIAS = (0.1084, -0.0175, -0.0011)

_X4_FACTORS = (  # SD2's x4 upscaler has a VAE of its own
    (-0.2340, -0.3863, -0.3257),
    (0.0994, 0.0885, -0.0908),
    (-0.2833, -0.2349, -0.3741),
    (0.2523, -0.0055, -0.1651),
)

LATENT_RGB: dict[ModelFamily, tuple[tuple, tuple]] = {
    ModelFamily.SD1: (_SD1_FACTORS, (0.0, 0.0, 0.0)),
    ModelFamily.SD2: (_SD1_FACTORS, (0.0, 0.0, 0.0)),  # SD2 shares SD1's VAE
    ModelFamily.SDXL: (_SDXL_FACTORS, _SDXL_BIAS),
}
X4_LATENT_RGB = (_X4_FACTORS, (0.0, 0.0, 0.0))


def rgb_factors(kind: Any) -> tuple[tuple, tuple]:
    """(factors, bias) for a family (or its value) or a MODEL value (which may be the x4
    upscaler, whose latents are its own VAE's)."""
    if getattr(kind, "x4_upscaler", False):
        return X4_LATENT_RGB
    return LATENT_RGB[ModelFamily(getattr(kind, "family", kind))]


def latent_to_rgb(latent: torch.Tensor, family: Any) -> torch.Tensor:
    """[C,h,w] model-space latent -> [h,w,3] in -1..1 (clamped); `family` as rgb_factors takes it."""
    factors, bias = rgb_factors(family)
    m = torch.tensor(factors, dtype=torch.float32)
    lat = latent.detach().to("cpu", torch.float32)[: m.shape[0]]
    rgb = torch.einsum("chw,cr->hwr", lat, m[: lat.shape[0]]) + torch.tensor(bias, dtype=torch.float32)
    return rgb.clamp(-1.0, 1.0)


def latent_preview(denoised_model_space: torch.Tensor, family: Any) -> Image.Image:
    """RGB preview of the first item of a [B,4,h,w] (or [4,h,w]) batch, one pixel per latent."""
    lat = denoised_model_space[0] if denoised_model_space.ndim == 4 else denoised_model_space
    rgb = (latent_to_rgb(lat, family) + 1.0) * 127.5
    return Image.fromarray(rgb.round().to(torch.uint8).numpy().astype(np.uint8))
