"""SD2's x4 upscaler: the low-resolution image as extra UNet input, its noise level as a class.

The UNet reads the latent plus the low-resolution image itself (3 channels, -1..1, at the
latent's size: its VAE upscales 4x, not 8x) and a class label, the image's noise level
(0..MAX_NOISE_LEVEL). SD_4XUpscale_Conditioning puts the image and a noise-augmentation
fraction on the conditioning; at sampling the image is noised to that level on the
model's training schedule with noise seeded by the prompt's seed minus 10, as ComfyUI
does, so the same seed gives the same image in both.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .cond_batch import PerEntryInput, resize_batch

LATENT_SCALE = 0.08333
BETA_START, BETA_END = 0.0001, 0.02
MAX_NOISE_LEVEL = 350
IMAGE_CHANNELS = 3
SEED_OFFSET = -10


def is_x4_upscaler_unet(unet: torch.nn.Module) -> bool:
    """A UNet with a class table and three input channels beyond its output's."""
    cfg = unet.config
    return (getattr(cfg, "num_class_embeds", None) is not None
            and int(cfg.in_channels) == int(cfg.out_channels) + IMAGE_CHANNELS)


def noise_level(fraction: float) -> int:
    """The class label for a noise-augmentation fraction (Python's rounding, as ComfyUI)."""
    return round(MAX_NOISE_LEVEL * float(fraction))


@functools.lru_cache(maxsize=1)
def _augmentation_scales() -> tuple[torch.Tensor, torch.Tensor]:
    """sqrt(alpha_bar) and sqrt(1 - alpha_bar) of the augmentation schedule, worked out in
    float64 and kept in float32 (the precision the reference implementation uses)."""
    betas = torch.linspace(BETA_START**0.5, BETA_END**0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    return alphas_cumprod.sqrt().float(), (1.0 - alphas_cumprod).sqrt().float()


def augment(image: torch.Tensor, level: int, seed: int) -> torch.Tensor:
    """The image noised to `level`: sqrt(a) * image + sqrt(1 - a) * noise, the noise drawn on
    the CPU from a generator seeded with `seed` (wrapped into torch's seed range)."""
    keep, add = _augmentation_scales()
    generator = torch.Generator().manual_seed(int(seed) % 2**64)
    noise = torch.randn(image.shape, dtype=image.dtype, generator=generator).to(image.device)
    return keep[level].to(image.device) * image + add[level].to(image.device) * noise


class LowResConcat(PerEntryInput):
    """The x4 upscaler's extra UNet input for a conditioning entry: its low-resolution image
    (zeros without one) at the latent's size, noise-augmented to the entry's level and
    repeated to the latent's batch. Built once per entry for the whole sampling."""

    def __init__(self, latent: torch.Tensor, seed: int) -> None:
        super().__init__()
        self.latent, self.seed = latent, int(seed)

    def _build(self, entry) -> torch.Tensor:
        image, fraction = entry.low_res_image, entry.noise_augmentation
        batch, _, height, width = self.latent.shape
        device = self.latent.device
        if image is None:
            image = torch.zeros(batch, IMAGE_CHANNELS, height, width, device=device)
        image = image.to(device, torch.float32)
        if tuple(image.shape[-2:]) != (height, width):  # a latent resized after the conditioning
            image = F.interpolate(image, size=(height, width), mode="bilinear")
        if fraction > 0:
            image = augment(image, noise_level(fraction), self.seed + SEED_OFFSET)
        return resize_batch(image, batch)

