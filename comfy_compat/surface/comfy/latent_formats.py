"""ComfyUI's `comfy.latent_formats`: SD1.5 and SDXL latent formats (others are not provided)."""
from __future__ import annotations

from typing import Any

from diffusion.model_view import LatentFormat as _StudioFormat
from diffusion.types import ModelFamily


class LatentFormat(_StudioFormat):
    def __init__(self) -> None:
        super().__init__(self.family_of, self.scale_of)

    family_of = ModelFamily.SD1
    scale_of = 1.0


class SD15(LatentFormat):
    family_of = ModelFamily.SD1
    scale_of = 0.18215


class SDXL(LatentFormat):
    family_of = ModelFamily.SDXL
    scale_of = 0.13025


class SD21UnclipL(SD15):
    pass


class SD21UnclipH(SD15):
    pass


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
