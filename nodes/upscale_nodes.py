"""Upscale-model nodes: ESRGAN / Real-ESRGAN style networks from models/upscale_models."""
from __future__ import annotations

from typing import Any

import torch

from .loaders import _file_fingerprint, _models
from .registry import Node, register_node
from .spec import Combo, Output, Socket


@register_node("UpscaleModelLoader", category="loaders", display_name="Load Upscale Model")
class UpscaleModelLoader(Node):
    """Loads an image upscale model (ESRGAN RRDBNet, Real-ESRGAN compact)."""

    model_name = Combo(choices=_models("upscale_models"))
    OUTPUTS = (Output("UPSCALE_MODEL", "UPSCALE_MODEL"),)

    def execute(self, ctx, model_name: str) -> tuple:
        from diffusion.device import default_device
        from diffusion.upscale import load_upscale_model

        return (load_upscale_model(ctx.folders.model_path("upscale_models", model_name), default_device()),)

    @classmethod
    def fingerprint(cls, folders: Any, model_name: str = "", **_: Any) -> Any:
        return _file_fingerprint(folders, "upscale_models", model_name)


@register_node("ImageUpscaleWithModel", category="image/upscaling", display_name="Upscale Image (using Model)")
class ImageUpscaleWithModel(Node):
    """Upscales images with a model, in overlapping tiles so that big images fit in memory."""

    upscale_model = Socket("UPSCALE_MODEL")
    image = Socket("IMAGE")
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, upscale_model, image: torch.Tensor) -> tuple:
        return (upscale_model.upscale(image),)
