"""ComfyUI's `comfy_extras.nodes_mask`: `composite` (pasting one image or latent into another
through a mask), which packs call directly."""
from __future__ import annotations

from typing import Any, Optional

import torch

import comfy.utils


def composite(destination: torch.Tensor, source: torch.Tensor, x: int, y: int, mask: Optional[torch.Tensor] = None,
              multiplier: int = 8, resize_source: bool = False) -> torch.Tensor:
    """destination [B,C,H,W] with source placed at (x, y) (in pixels; `multiplier` units per
    cell: 8 for latents, 1 for images), blended by `mask` (1 = source)."""
    source = source.to(destination.device)
    if resize_source:
        source = torch.nn.functional.interpolate(source, size=(destination.shape[2], destination.shape[3]),
                                                 mode="bilinear")
    source = comfy.utils.repeat_to_batch_size(source, destination.shape[0])
    x = max(-source.shape[3] * multiplier, min(x, destination.shape[3] * multiplier))
    y = max(-source.shape[2] * multiplier, min(y, destination.shape[2] * multiplier))
    left, top = x // multiplier, y // multiplier
    visible_w = min(destination.shape[3] - left, source.shape[3]) - max(0, -left)
    visible_h = min(destination.shape[2] - top, source.shape[2]) - max(0, -top)
    if visible_w <= 0 or visible_h <= 0:
        return destination
    src_left, src_top = max(0, -left), max(0, -top)
    left, top = max(0, left), max(0, top)
    if mask is None:
        mask = torch.ones_like(source)
    else:
        mask = mask.to(destination.device, copy=True)
        mask = torch.nn.functional.interpolate(mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])),
                                               size=(source.shape[2], source.shape[3]), mode="bilinear")
        mask = comfy.utils.repeat_to_batch_size(mask, source.shape[0])
    mask = mask[:, :, src_top:src_top + visible_h, src_left:src_left + visible_w]
    inverse = torch.ones_like(mask) - mask
    out = destination.clone()
    portion = source[:, :, src_top:src_top + visible_h, src_left:src_left + visible_w]
    region = out[:, :, top:top + visible_h, left:left + visible_w]
    out[:, :, top:top + visible_h, left:left + visible_w] = mask * portion + inverse * region
    return out


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
