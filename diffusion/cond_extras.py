"""What a CONDITIONING entry's extras dict may hold, and its one parser.

CONDITIONING is ComfyUI's list of ``[embedding, extras]`` pairs. Nodes add keys to the
extras (an area, a mask, a timestep range, ControlNets, an inpainting model's image...);
``CondExtras`` documents every key the sampler reads, and ``parse_conditioning`` is the
only place that reads them, so a new key is added here once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, TypedDict

import torch

from diffusion.types import Conditioning


class CondExtras(TypedDict, total=False):
    """The extras of one conditioning entry (all optional)."""

    pooled_output: torch.Tensor  # [1,P] pooled text embedding (SDXL)
    strength: float  # weight of this entry in the average of its list
    area: tuple  # (h, w, y, x) in latent pixels, or ("percentage", h, w, y, x)
    mask: torch.Tensor  # [B,H,W] where it applies
    mask_strength: float
    set_area_to_bounds: bool  # shrink the region to the mask's bounding box
    start_percent: float  # active from this fraction of the sampling...
    end_percent: float  # ...to this one
    concat_latent_image: torch.Tensor  # an inpainting / instruct-pix2pix model's image latent
    concat_mask: torch.Tensor  # an inpainting model's mask
    control: Any  # a diffusion.controlnet.ControlHint chain
    # SDXL size conditioning (CLIPTextEncodeSDXL / ...Refiner), in pixels
    width: int
    height: int
    crop_w: int
    crop_h: int
    target_width: int
    target_height: int
    aesthetic_score: float
    unclip_conditioning: list  # [{"clip_vision_output", "strength", "noise_augmentation"}]
    concat_image: torch.Tensor  # the x4 upscaler's low-resolution image [B,3,h,w] in -1..1
    noise_augmentation: float  # ...and how far it is noised (0..1 of its noise levels)
    gligen: tuple  # ("position", model, [(embedding, h, w, y, x), ...])


SIZE_KEYS = ("width", "height", "crop_w", "crop_h", "target_width", "target_height")


@dataclass(frozen=True)
class CondEntry:
    """One parsed conditioning: context [b,T,D], optional pooled [b,P], its weight in the
    average, where it applies (area, mask), when (timestep range as percents of the
    sampling), an inpainting model's image and mask, ControlNets, and the model inputs
    some families take besides the text (SDXL sizes, unCLIP image embeddings, GLIGEN boxes)."""

    context: torch.Tensor
    pooled: Optional[torch.Tensor]
    strength: float = 1.0
    area: Optional[tuple] = None
    mask: Optional[torch.Tensor] = None
    mask_strength: float = 1.0
    set_area_to_bounds: bool = False
    start_percent: float = 0.0
    end_percent: float = 1.0
    concat_image: Optional[torch.Tensor] = None
    concat_mask: Optional[torch.Tensor] = None
    control: Optional[object] = None
    size: Optional[dict] = None  # the SIZE_KEYS given (and aesthetic_score), or None
    unclip: Optional[list] = None
    gligen: Optional[tuple] = None
    low_res_image: Optional[torch.Tensor] = None
    noise_augmentation: float = 0.0
    prompt_type: str = "positive"  # the guider's name for the list: "negative" picks SDXL refiner defaults

    @property
    def is_regional(self) -> bool:
        """Needs the per-region path: an area, a mask or a timestep range."""
        return (self.area is not None or self.mask is not None or self.start_percent > 0.0
                or self.end_percent < 1.0)

    @property
    def model_inputs_key(self) -> tuple:
        """Entries with different extra model inputs cannot share one UNet call (SDXL's sizes
        go per row, so they may differ)."""
        return (id(self.control), id(self.unclip), id(self.gligen), self.noise_augmentation)


def _size(extras: dict) -> Optional[dict]:
    found = {key: extras[key] for key in (*SIZE_KEYS, "aesthetic_score") if key in extras}
    return found or None


def parse_conditioning(cond: Conditioning, prompt_type: str = "positive") -> list[CondEntry]:
    """ComfyUI's [[embedding, extras], ...] into entries; `prompt_type` is the guider's name
    for the list ("positive", "negative", ...)."""
    out = []
    for item in cond or []:
        emb = item[0]
        extras: CondExtras = item[1] if len(item) > 1 and item[1] is not None else {}
        if emb.ndim == 2:
            emb = emb.unsqueeze(0)
        pooled = extras.get("pooled_output")
        if pooled is not None and pooled.ndim == 1:
            pooled = pooled.unsqueeze(0)
        out.append(CondEntry(
            emb, pooled, float(extras.get("strength", 1.0)),
            area=extras.get("area"), mask=extras.get("mask"),
            mask_strength=float(extras.get("mask_strength", 1.0)),
            set_area_to_bounds=bool(extras.get("set_area_to_bounds", False)),
            start_percent=float(extras.get("start_percent", 0.0)),
            end_percent=float(extras.get("end_percent", 1.0)),
            concat_image=extras.get("concat_latent_image"), concat_mask=extras.get("concat_mask"),
            control=extras.get("control"), size=_size(extras),
            unclip=extras.get("unclip_conditioning"), gligen=extras.get("gligen"),
            low_res_image=extras.get("concat_image"),
            noise_augmentation=float(extras.get("noise_augmentation", 0.0)), prompt_type=prompt_type,
        ))
    return out
