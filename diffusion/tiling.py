"""Run an image-to-image function tile by tile, blending the overlaps, to bound memory.

Used for tiled VAE decode/encode (and upscale models): the input is cut into tiles that
overlap; each output tile is weighted by a ramp that falls towards its inner edges (not
at the image border), and the weighted sum is divided by the summed weights, so seams
fade instead of showing.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable

import torch

from .interrupts import raise_if_interrupted

TileFn = Callable[[torch.Tensor], torch.Tensor]


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets of tiles of `tile` covering `length` with at least `overlap` shared;
    the stride is a multiple of `align` and the last tile ends at `length` (callers keep
    length and tile multiples of `align`)."""
    if tile >= length:
        return [0]
    stride = max(align, ((tile - overlap) // align) * align)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(size: int, fade: int, at_start: bool, at_end: bool) -> torch.Tensor:
    """1D weights: 1 inside, rising over `fade` samples from an inner edge."""
    w = torch.ones(size)
    if fade <= 0:
        return w
    n = min(fade, size)
    rise = torch.arange(1, n + 1, dtype=torch.float32) / (n + 1)
    if not at_start:
        w[:n] = torch.minimum(w[:n], rise)
    if not at_end:
        w[size - n:] = torch.minimum(w[size - n:], rise.flip(0))
    return w


def tiled_map(
    x: torch.Tensor, fn: TileFn, tile: int, overlap: int, scale: Fraction | int, align: int = 1
) -> torch.Tensor:
    """fn applied to [B,C,H,W] in tiles of tile x tile (input pixels); fn maps an h x w
    tile to (h*scale) x (w*scale). Tile starts are multiples of `align`."""
    scale = Fraction(scale)
    height, width = x.shape[-2:]
    tile_h, tile_w = min(tile, height), min(tile, width)
    ys = tile_starts(height, tile_h, overlap, align)
    xs = tile_starts(width, tile_w, overlap, align)
    if len(ys) == 1 and len(xs) == 1:
        return fn(x)
    out = weights = None
    fade = int(overlap * scale)
    for y in ys:
        for x0 in xs:
            raise_if_interrupted()
            piece = fn(x[..., y:y + tile_h, x0:x0 + tile_w])
            if out is None:
                out = torch.zeros(*piece.shape[:2], int(height * scale), int(width * scale),
                                  dtype=piece.dtype, device=piece.device)
                weights = torch.zeros(1, 1, *out.shape[-2:], dtype=piece.dtype, device=piece.device)
            oy, ox = int(y * scale), int(x0 * scale)
            ph, pw = piece.shape[-2:]
            wy = _ramp(ph, fade, y == 0, y + tile_h >= height)
            wx = _ramp(pw, fade, x0 == 0, x0 + tile_w >= width)
            w = (wy[:, None] * wx[None, :]).to(piece.device, piece.dtype)
            out[..., oy:oy + ph, ox:ox + pw] += piece * w
            weights[..., oy:oy + ph, ox:ox + pw] += w
    return out / weights
