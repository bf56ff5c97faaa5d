"""Resizing of latents and images, shared by the latent and image scale nodes."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .resize_parts import needs_parts, resize_in_parts

UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic"]
IMAGE_UPSCALE_METHODS = UPSCALE_METHODS + ["lanczos"]  # lanczos: pixels only, through Pillow
CROP_METHODS = ["disabled", "center"]


def center_crop_to_aspect(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Crop [B,C,H,W] around the centre to the aspect ratio of width x height."""
    old_h, old_w = samples.shape[-2:]
    old_aspect, new_aspect = old_w / old_h, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    x, y = min(x, (old_w - 1) // 2), min(y, (old_h - 1) // 2)  # an extreme aspect keeps a pixel
    return samples[..., y : old_h - y, x : old_w - x]


def resize(samples: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled") -> torch.Tensor:
    """Resize [B,C,H,W] to height x width with one of UPSCALE_METHODS."""
    if method not in IMAGE_UPSCALE_METHODS:
        raise ValueError(f"unknown upscale method '{method}'")
    if crop == "center":
        samples = center_crop_to_aspect(samples, width, height)
    if needs_parts(samples, width, height):  # huge: in parts, so that an interrupt is honoured
        return resize_in_parts(samples, width, height, lambda s, w, h: _resize_whole(s, w, h, method))
    return _resize_whole(samples, width, height, method)


def _resize_whole(samples: torch.Tensor, width: int, height: int, method: str) -> torch.Tensor:
    """One call for the whole tensor (resize() checks `method`)."""
    if method == "lanczos":
        return _lanczos(samples, width, height)
    mode = method
    kwargs = {"align_corners": False} if method in ("bilinear", "bicubic") else {}
    out = F.interpolate(samples.float(), size=(height, width), mode=mode, **kwargs)
    return out.to(samples.dtype)


def fill_missing_side(old_w: int, old_h: int, width: int, height: int, multiple: int = 1) -> tuple[int, int]:
    """A zero width or height keeps the aspect ratio (ComfyUI's convention)."""
    if width == 0 and height == 0:
        return old_w, old_h
    if width == 0:
        width = max(multiple, round(old_w * height / old_h / multiple) * multiple)
    elif height == 0:
        height = max(multiple, round(old_h * width / old_w / multiple) * multiple)
    return width, height


def _lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Pillow's Lanczos filter, channel by channel, on float pixels."""
    import numpy as np
    from PIL import Image

    out = torch.empty(samples.shape[0], samples.shape[1], height, width, dtype=torch.float32)
    for b in range(samples.shape[0]):
        for c in range(samples.shape[1]):
            plane = Image.fromarray(samples[b, c].float().cpu().numpy(), mode="F")
            out[b, c] = torch.from_numpy(np.array(plane.resize((width, height), Image.LANCZOS)))
    return out.to(samples.dtype)
