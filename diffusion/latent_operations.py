"""LATENT_OPERATION values: functions over a latent [B,C,H,W] that work on each pixel's
vector across channels (its length is the "luminance"), applied to a latent or, by a
pre-cfg hook, to the guidance term of every sampling step."""
from __future__ import annotations

from typing import Any, Callable

import torch

from diffusion.image_filters import convolve, gaussian_kernel

LatentOperation = Callable[..., torch.Tensor]


def tonemap_reinhard(multiplier: float) -> LatentOperation:
    """Compress each vector's length with Reinhard's x / (1 + x), the scale set at
    multiplier x (mean + 5 std) of the lengths."""
    def operation(latent: torch.Tensor, **_: Any) -> torch.Tensor:
        length = torch.linalg.vector_norm(latent, dim=1, keepdim=True) + 1e-10
        top = (length.std(dim=(1, 2, 3), keepdim=True) * 5 + length.mean(dim=(1, 2, 3), keepdim=True)) * multiplier
        scaled = length / top
        return latent / length * (scaled / (scaled + 1.0) * top)

    return operation


def sharpen(radius: int, sigma: float, alpha: float) -> LatentOperation:
    """Unsharp-mask the direction of each vector, keeping its length."""
    def operation(latent: torch.Tensor, **_: Any) -> torch.Tensor:
        length = torch.linalg.vector_norm(latent, dim=1, keepdim=True) + 1e-6
        kernel = gaussian_kernel(2 * radius + 1, sigma) * (alpha * -10)
        kernel[radius, radius] = kernel[radius, radius] - kernel.sum() + 1.0
        direction = (latent / length).movedim(1, -1)
        return length * convolve(direction, kernel).movedim(-1, 1)

    return operation


def cfg_hook(operation: LatentOperation) -> Callable[[dict], list]:
    """A pre-cfg hook applying `operation` to cond - uncond (or to cond alone)."""
    def hook(args: dict) -> list:
        outs = list(args["conds_out"])
        if len(outs) == 2 and outs[1] is not None:
            outs[0] = operation(latent=outs[0] - outs[1]) + outs[1]
        else:
            outs[0] = operation(latent=outs[0])
        return outs

    return hook
