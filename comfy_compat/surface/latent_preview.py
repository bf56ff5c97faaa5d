"""ComfyUI's `latent_preview`: step callbacks that report progress with a preview image."""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from PIL import Image

from comfy.cli_args import LatentPreviewMethod, args
from comfy_compat import runtime

MAX_PREVIEW_RESOLUTION = 512


def preview_to_image(latent_image: torch.Tensor, do_scale: bool = True) -> Image.Image:
    """[H,W,3] in -1..1 (or 0..1 without scaling) -> a PIL image."""
    image = ((latent_image + 1.0) / 2.0) if do_scale else latent_image
    array = (image.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(array)


class LatentPreviewer:
    def decode_latent_to_preview(self, x0: torch.Tensor) -> Image.Image:
        raise NotImplementedError

    def decode_latent_to_preview_image(self, preview_format: str, x0: torch.Tensor):
        return preview_format, self.decode_latent_to_preview(x0), MAX_PREVIEW_RESOLUTION


class Latent2RGBPreviewer(LatentPreviewer):
    """A fixed per-channel colour projection of the latent (no VAE)."""

    def __init__(self, latent_rgb_factors: Any, latent_rgb_factors_bias: Any = None,
                 latent_rgb_factors_reshape: Any = None) -> None:
        self.factors = torch.tensor(latent_rgb_factors, dtype=torch.float32)
        self.bias = torch.tensor(latent_rgb_factors_bias, dtype=torch.float32) if latent_rgb_factors_bias else None
        self.reshape = latent_rgb_factors_reshape

    def decode_latent_to_preview(self, x0: torch.Tensor) -> Image.Image:
        if self.reshape is not None:
            x0 = self.reshape(x0)
        latent = x0[:1].float().cpu()
        rgb = torch.einsum("bchw,cr->bhwr", latent, self.factors[: latent.shape[1]])
        if self.bias is not None:
            rgb = rgb + self.bias
        return preview_to_image(rgb[0])


def get_previewer(device: Any, latent_format: Any) -> Optional[LatentPreviewer]:
    if args.preview_method == LatentPreviewMethod.NoPreviews:
        ctx = runtime.current()
        if ctx is None or not ctx.want_previews:
            return None
    factors = getattr(latent_format, "latent_rgb_factors", None)
    if factors is None:
        return None
    return Latent2RGBPreviewer(factors, getattr(latent_format, "latent_rgb_factors_bias", None))


def prepare_callback(model: Any, steps: int, x0_output_dict: Optional[dict] = None) -> Callable:
    """callback(step, x0, x, total_steps) that reports progress (and a preview when asked)."""
    latent_format = getattr(getattr(model, "model", None), "latent_format", None)
    previewer = get_previewer(None, latent_format)
    ctx = runtime.current()

    def callback(step: int, x0: torch.Tensor, x: torch.Tensor, total_steps: int) -> None:
        if x0_output_dict is not None:
            x0_output_dict["x0"] = x0
        if ctx is None:
            return
        ctx.check_interrupted()
        preview = previewer.decode_latent_to_preview(x0) if previewer is not None and x0 is not None else None
        ctx.report_progress(step + 1, total_steps, preview)

    return callback


def set_preview_method(override: Optional[str] = None) -> None:
    if override:
        args.preview_method = LatentPreviewMethod.from_string(override)


def __getattr__(name: str) -> Any:
    from comfy_compat.placeholders import fallback

    return fallback(__name__, name)
