"""Huge resizes computed in parts, so that an interrupt is honoured between the parts.

A 12000x12000 resize is one library call lasting tens of seconds. Every method here is
separable and maps each output row (column) from input rows (columns) by the sizes alone,
so a resize is done as two one-axis passes: the width pass by bands of rows, the height
pass by bands of columns, in the order that costs less (column bands are strided, so
that pass is kept on the smaller side). Each band is exactly what the single call
computes along its axis; only the two-pass order of float operations can differ, so
results agree up to rounding. Batches of many ordinary images are split by planes
instead, which is exact.
"""
from __future__ import annotations

from typing import Callable

import torch

from diffusion.interrupts import raise_if_interrupted

# A resize touching more pixels (over all its planes, input or output side) goes in parts.
PARTS_ABOVE = 16_000_000
# Planes up to this size are resized whole, a group of planes per part (exact); larger
# ones in bands.
BANDS_ABOVE = 8_000_000
# About how many pixels each part computes: a fraction of a second for any method.
PART_PIXELS = 4_000_000

# (samples [B,C,H,W], width, height) -> float32 [B,C,height,width], in one call.
WholeResize = Callable[[torch.Tensor, int, int], torch.Tensor]


def needs_parts(samples: torch.Tensor, width: int, height: int) -> bool:
    """Whether resizing `samples` to height x width is big enough to go in parts."""
    if samples.ndim != 4:
        return False
    planes = samples.shape[0] * samples.shape[1]
    return planes * _plane_pixels(samples, width, height) > PARTS_ABOVE


def resize_in_parts(samples: torch.Tensor, width: int, height: int, whole: WholeResize) -> torch.Tensor:
    """`whole(samples, width, height)` computed in parts of about PART_PIXELS, checking the
    interrupt before each."""
    if _plane_pixels(samples, width, height) <= BANDS_ABOVE:
        out = _by_planes(samples, width, height, whole)
    elif _width_first(samples, width, height):
        in_h = samples.shape[-2]
        out = _pass(_pass(samples, width, in_h, whole, by_rows=True), width, height, whole, by_rows=False)
    else:
        in_w = samples.shape[-1]
        out = _pass(_pass(samples, in_w, height, whole, by_rows=False), width, height, whole, by_rows=True)
    return out.to(samples.dtype)


def _width_first(samples: torch.Tensor, width: int, height: int) -> bool:
    """Whether the width pass should go first: a strided column band costs about twice a
    row band of the same size, and the passes' outputs are H_in x W_out then H_out x W_out
    (width first) or H_out x W_in then H_out x W_out (height first)."""
    in_h, in_w = samples.shape[-2:]
    return in_h * width + 2 * height * width <= 2 * height * in_w + height * width


def _plane_pixels(samples: torch.Tensor, width: int, height: int) -> int:
    in_h, in_w = samples.shape[-2:]
    return max(in_h * in_w, height * width)


def _by_planes(samples: torch.Tensor, width: int, height: int, whole: WholeResize) -> torch.Tensor:
    """Planes resized a group at a time (each plane is computed on its own anyway)."""
    b, c, in_h, in_w = samples.shape
    planes = samples.reshape(b * c, 1, in_h, in_w)
    step = max(1, PART_PIXELS // _plane_pixels(samples, width, height))
    out = torch.empty(b * c, 1, height, width, dtype=torch.float32, device=samples.device)
    for start in range(0, b * c, step):
        raise_if_interrupted()
        out[start:start + step] = whole(planes[start:start + step].float(), width, height)
    return out.reshape(b, c, height, width)


def _pass(samples: torch.Tensor, width: int, height: int, whole: WholeResize, by_rows: bool) -> torch.Tensor:
    """A one-axis resize (the other axis keeps its size), by bands along that other axis."""
    b, c, in_h, in_w = samples.shape
    out = torch.empty(b, c, height, width, dtype=torch.float32, device=samples.device)
    across = b * c * (width if by_rows else height)  # output pixels per row (column) of the band
    step = max(1, PART_PIXELS // across)
    for start in range(0, in_h if by_rows else in_w, step):
        raise_if_interrupted()
        if by_rows:
            band = samples[:, :, start:start + step].float()
            out[:, :, start:start + step] = whole(band, width, band.shape[-2])
        else:
            band = samples[..., start:start + step].float()
            out[..., start:start + step] = whole(band, band.shape[-1], height)
    return out
