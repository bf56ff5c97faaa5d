"""Conditioning for SD2's x4 upscaler: the image to enlarge rides on the prompts, and the
empty latent has the size of the result over the upscaler VAE's factor of 4."""
from __future__ import annotations

import torch

from .registry import Node, register_node
from .resize import resize
from .spec import Float, Output, Socket

X4_VAE_FACTOR = 4


def _with_image(conditioning: list, pixels: torch.Tensor, noise_augmentation: float) -> list:
    """Copies of the entries whose extras carry the low-resolution image and its noise."""
    return [[emb, {**extras, "concat_image": pixels, "noise_augmentation": noise_augmentation}]
            for emb, extras in conditioning]


@register_node("SD_4XUpscale_Conditioning", category="conditioning/upscale_diffusion")
class SD4XUpscaleConditioning(Node):
    """The image (scaled to the result's size over 4, as -1..1 pixels) goes to both prompts;
    noise_augmentation (0..1) noises it before the model reads it, to hide compression
    artefacts at the cost of detail."""

    images = Socket("IMAGE")
    positive = Socket("CONDITIONING")
    negative = Socket("CONDITIONING")
    scale_ratio = Float(default=4.0, min=0.0, max=10.0, step=0.01)
    noise_augmentation = Float(default=0.0, min=0.0, max=1.0, step=0.001)
    OUTPUTS = (Output("CONDITIONING", "positive"), Output("CONDITIONING", "negative"), Output("LATENT", "latent"))

    def execute(self, ctx, images: torch.Tensor, positive: list, negative: list, scale_ratio: float,
                noise_augmentation: float) -> tuple:
        width = max(1, round(images.shape[-2] * scale_ratio))
        height = max(1, round(images.shape[-3] * scale_ratio))
        small_w, small_h = width // X4_VAE_FACTOR, height // X4_VAE_FACTOR
        if small_w == 0 or small_h == 0:
            raise ValueError(f"SD_4XUpscale_Conditioning: a {images.shape[-2]}x{images.shape[-3]} image at "
                             f"scale {scale_ratio} is {width}x{height}, under the upscaler's 4-pixel latent cell")
        pixels = resize(images.movedim(-1, 1)[:, :3] * 2.0 - 1.0, small_w, small_h, "bilinear", "center")
        latent = torch.zeros(images.shape[0], 4, small_h, small_w)
        return (_with_image(positive, pixels, noise_augmentation), _with_image(negative, pixels, noise_augmentation),
                {"samples": latent})
