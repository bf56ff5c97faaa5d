"""Mask and pixel preparation for inpainting and outpainting, with ComfyUI's semantics.

MASK values are [B,H,W] (or [H,W]) floats, 1 = repaint, 0 = keep. IMAGE is [B,H,W,C] 0..1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GRAY = 0.5


def as_mask_batch(mask: torch.Tensor) -> torch.Tensor:
    """Any [H,W] / [B,H,W] / [B,1,H,W] mask -> [B,1,H,W] float32."""
    mask = mask.float()
    return mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])


def crop_offsets(size: int, multiple: int) -> tuple[int, int]:
    """(offset, length) of the centred crop of `size` down to a multiple (VAE encode's crop)."""
    length = (size // multiple) * multiple
    return (size % multiple) // 2, length


def pixels_and_mask(
    pixels: torch.Tensor, mask: torch.Tensor, multiple: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The image cropped to multiples of `multiple`, and the mask resized (bilinear) to the
    image and cropped alike ([B,1,H,W])."""
    height, width = pixels.shape[1], pixels.shape[2]
    m = F.interpolate(as_mask_batch(mask), size=(height, width), mode="bilinear")
    top, new_h = crop_offsets(height, multiple)
    left, new_w = crop_offsets(width, multiple)
    return (pixels[:, top:top + new_h, left:left + new_w, :],
            m[:, :, top:top + new_h, left:left + new_w])


def gray_out(pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Pixels under the (rounded) mask become mid gray, so the VAE sees no old content there."""
    keep = (1.0 - mask.round()).squeeze(1).unsqueeze(-1)  # [B,H,W,1]
    rgb = (pixels[..., :3] - GRAY) * keep + GRAY
    return rgb


def grow_mask(mask: torch.Tensor, grow_by: int) -> torch.Tensor:
    """Dilate a [B,1,H,W] mask with a grow_by x grow_by box (size kept), as VAEEncodeForInpaint."""
    if grow_by == 0:
        return mask
    kernel = torch.ones((1, 1, grow_by, grow_by), dtype=mask.dtype)
    padding = math.ceil((grow_by - 1) / 2)
    grown = torch.clamp(F.conv2d(mask.round(), kernel, padding=padding), 0, 1)
    return grown[:, :, : mask.shape[2], : mask.shape[3]]


def pad_for_outpaint(
    image: torch.Tensor, left: int, top: int, right: int, bottom: int, feathering: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A gray border around the image, and the mask to repaint it: 1 on the border, 0 inside,
    with a quadratic ramp of `feathering` pixels into the image along the padded sides."""
    batch, height, width, channels = image.shape
    out = torch.full((batch, height + top + bottom, width + left + right, channels), GRAY, dtype=torch.float32)
    out[:, top:top + height, left:left + width, :] = image
    mask = torch.ones((height + top + bottom, width + left + right), dtype=torch.float32)
    inner = torch.zeros((height, width), dtype=torch.float32)
    if feathering > 0 and feathering * 2 < height and feathering * 2 < width:
        rows = torch.arange(height, dtype=torch.float32).unsqueeze(1)
        cols = torch.arange(width, dtype=torch.float32).unsqueeze(0)
        far_h, far_w = torch.full_like(rows, height), torch.full_like(cols, width)
        distance = torch.minimum(
            torch.minimum(rows if top else far_h, (height - rows) if bottom else far_h),
            torch.minimum(cols if left else far_w, (width - cols) if right else far_w),
        )
        ramp = ((feathering - distance) / feathering) ** 2
        inner = torch.where(distance < feathering, ramp, inner)
    mask[top:top + height, left:left + width] = inner
    return out, mask.unsqueeze(0)
