"""Latent compositing with ComfyUI's feathered edges."""
from __future__ import annotations

import torch


def feather_mask(shape: torch.Size, feather: int, top: bool, bottom: bool, left: bool, right: bool) -> torch.Tensor:
    """Ones, fading linearly over `feather` rows/columns on the named sides ((t+1)/feather)."""
    mask = torch.ones(shape)
    if feather <= 0:
        return mask
    h, w = shape[-2], shape[-1]
    for t in range(feather):
        f = (t + 1) / feather
        if top and t < h:
            mask[..., t, :] *= f
        if bottom and t < h:
            mask[..., h - 1 - t, :] *= f
        if left and t < w:
            mask[..., :, t] *= f
        if right and t < w:
            mask[..., :, w - 1 - t] *= f
    return mask


def composite(dest: torch.Tensor, source: torch.Tensor, x: int, y: int, feather: int) -> torch.Tensor:
    """`source` pasted into a copy of `dest` at latent (x, y), clipped to dest; with a
    feather, pasted edges that lie inside dest blend linearly into it."""
    out = dest.clone()
    height, width = dest.shape[-2:]
    if x >= width or y >= height:
        return out
    piece = source[..., : height - y, : width - x]
    ph, pw = piece.shape[-2:]
    region = out[..., y:y + ph, x:x + pw]
    if feather == 0:
        out[..., y:y + ph, x:x + pw] = piece
        return out
    mask = feather_mask(piece.shape, feather, y != 0, y + ph < height, x != 0, x + pw < width).to(piece)
    out[..., y:y + ph, x:x + pw] = piece * mask + region * (1.0 - mask)
    return out
