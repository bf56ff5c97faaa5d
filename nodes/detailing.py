"""Re-drawing regions of a picture (what ADetailer and the Impact Pack's detailers do).

For each region: cut out its crop region, scale it so the object reaches the guide size
(never past the largest size), encode, sample again at a moderate denoise with the region's
mask as the noise mask (only the masked part changes), decode, scale back and blend it in
through the feathered mask. Pixels where the feathered mask is zero are copied unchanged.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np
import torch

from detection.regions import SEG
from .resize import resize
from .sampling import run_sampler

_CHOICE = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class DetailSettings:
    """The sampling and sizing choices shared by the detailer nodes."""

    guide_size: float = 512
    guide_size_for_bbox: bool = True
    max_size: float = 1024
    seed: int = 0
    steps: int = 20
    cfg: float = 8.0
    sampler_name: str = "euler"
    scheduler: str = "normal"
    denoise: float = 0.5
    feather: int = 5
    noise_mask: bool = True
    force_inpaint: bool = True
    cycle: int = 1
    noise_mask_feather: int = 0


@dataclass
class RegionResult:
    """What happened to one region: the refined crop (None when skipped) and why."""

    seg: SEG
    refined: Optional[torch.Tensor]
    paste_mask: Optional[torch.Tensor]
    note: str


def resolve_choices(text: str, seed: int) -> str:
    """`{a|b|c}` picks one option (seeded, so a seed gives the same prompt again)."""
    rng = random.Random(seed)
    while True:
        match = _CHOICE.search(text)
        if match is None:
            return text
        text = text[:match.start()] + rng.choice(match.group(1).split("|")) + text[match.end():]


def _multiple(value: float, step: int) -> int:
    return max(step, int(round(value / step)) * step)


def scaled_size(seg: SEG, settings: DetailSettings, step: int = 8) -> tuple[Optional[tuple[int, int]], str]:
    """(width, height) to re-draw the crop region at, or None and why it is skipped."""
    x1, y1, x2, y2 = seg.crop_region
    crop_w, crop_h = x2 - x1, y2 - y1
    bx1, by1, bx2, by2 = seg.bbox
    reference = min(bx2 - bx1, by2 - by1) if settings.guide_size_for_bbox else min(crop_w, crop_h)
    scale = settings.guide_size / max(1, reference)
    scale = min(scale, settings.max_size / max(crop_w, crop_h))
    if scale <= 1.0:
        if not settings.force_inpaint:
            return None, f"already at guide size (x{scale:.2f}); force_inpaint is off"
        scale = min(1.0, settings.max_size / max(crop_w, crop_h))
    return (_multiple(crop_w * scale, step), _multiple(crop_h * scale, step)), f"x{scale:.2f}"


def _resize_image(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """[1,H,W,C] -> [1,height,width,C]: bicubic up, area down."""
    growing = width * height >= image.shape[1] * image.shape[2]
    out = resize(image.movedim(-1, 1), width, height, "bicubic" if growing else "area")
    return out.movedim(1, -1).clamp(0, 1)


def _blur_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Gaussian feathering of an [H,W] mask over `radius` pixels (zero: unchanged)."""
    if radius <= 0:
        return mask
    size = 2 * radius + 1
    sigma = max(radius / 2.0, 0.5)
    offsets = torch.arange(size, dtype=torch.float32) - radius
    kernel = torch.exp(-(offsets ** 2) / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    padded = torch.nn.functional.pad(mask[None, None], (radius, radius, radius, radius), mode="constant")
    out = torch.nn.functional.conv2d(padded, kernel.view(1, 1, 1, size))
    out = torch.nn.functional.conv2d(out, kernel.view(1, 1, size, 1))
    return out[0, 0].clamp(0, 1)


def paste(picture: torch.Tensor, refined: torch.Tensor, mask: torch.Tensor, region: tuple[int, int, int, int]) \
        -> torch.Tensor:
    """`picture` [1,H,W,C] with `refined` blended into `region` through `mask` [h,w];
    wherever the mask is zero the original pixels are kept bit for bit."""
    x1, y1, x2, y2 = region
    out = picture.clone()
    here = out[:, y1:y2, x1:x2, :]
    weight = mask[None, :, :, None].to(here.dtype)
    channels = min(here.shape[-1], refined.shape[-1])
    blended = here.clone()
    blended[..., :channels] = here[..., :channels] * (1 - weight) + refined[..., :channels].to(here.dtype) * weight
    out[:, y1:y2, x1:x2, :] = torch.where(weight > 0, blended, here)
    return out


def detail_region(ctx: Any, picture: torch.Tensor, seg: SEG, model: Any, vae: Any, positive: Any, negative: Any,
                  settings: DetailSettings) -> tuple[torch.Tensor, RegionResult]:
    """Re-draw one region of a single picture [1,H,W,C]; returns the new picture."""
    size, why = scaled_size(seg, settings, getattr(vae, "downscale", 8))
    if size is None:
        return picture, RegionResult(seg, None, None, why)
    x1, y1, x2, y2 = seg.crop_region
    crop = picture[:, y1:y2, x1:x2, :3]
    width, height = size
    mask = torch.from_numpy(np.asarray(seg.cropped_mask, dtype=np.float32))[: y2 - y1, : x2 - x1]
    latent: dict = {"samples": vae.encode(_resize_image(crop, width, height))}
    if settings.noise_mask:
        scaled_mask = resize(mask[None, None], width, height, "bilinear")[0]
        latent["noise_mask"] = _blur_mask(scaled_mask[0], settings.noise_mask_feather)[None]
    for turn in range(max(1, settings.cycle)):
        latent = run_sampler(ctx, model, latent, positive, negative, seed=settings.seed + turn,
                             steps=settings.steps, cfg=settings.cfg, sampler_name=settings.sampler_name,
                             scheduler=settings.scheduler, denoise=settings.denoise)
    decoded = vae.decode(latent["samples"])[..., :3]
    refined = _resize_image(decoded.float().cpu(), x2 - x1, y2 - y1)
    paste_mask = _blur_mask(mask, settings.feather)
    out = paste(picture, refined, paste_mask, seg.crop_region)
    return out, RegionResult(seg, refined, paste_mask, f"{crop.shape[2]}x{crop.shape[1]} -> {width}x{height} ({why})")


def detail_picture(ctx: Any, picture: torch.Tensor, segs_items: list, model: Any, vae: Any, positive: Any,
                   negative: Any, settings: DetailSettings) -> tuple[torch.Tensor, list[RegionResult]]:
    """Every region of one picture, in turn, each on the picture the previous ones left."""
    results = []
    for index, seg in enumerate(segs_items):
        region_settings = replace(settings, seed=settings.seed + index)
        picture, result = detail_region(ctx, picture, seg, model, vae, positive, negative, region_settings)
        results.append(result)
    return picture, results
