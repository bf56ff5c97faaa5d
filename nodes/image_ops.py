"""Image post-processing and compositing nodes (ComfyUI's image/postprocessing, ImageCompositeMasked,
alpha split/join, YUV, ImageScaleToTotalPixels). Images are [B,H,W,C] floats in 0..1."""
from __future__ import annotations

import math
from typing import Optional

import torch

from .latent import MAX_RESOLUTION
from .registry import Node, register_node
from .resize import IMAGE_UPSCALE_METHODS, resize
from .spec import Boolean, Combo, Float, Int, Output, Socket

POST = "image/postprocessing"
IMAGE_OUT = (Output("IMAGE", "IMAGE"),)


def _resized_like(image: torch.Tensor, like: torch.Tensor, method: str = "bicubic") -> torch.Tensor:
    """`image` at `like`'s size (centre-cropped to its aspect first)."""
    if image.shape[1:3] == like.shape[1:3]:
        return image
    out = resize(image.movedim(-1, 1), like.shape[2], like.shape[1], method, "center")
    return out.movedim(1, -1)


@register_node("ImageScaleToTotalPixels", category="image/upscaling", display_name="Scale Image to Total Pixels")
class ImageScaleToTotalPixels(Node):
    """Resize to about `megapixels` million pixels, keeping the aspect ratio; sides rounded to
    multiples of resolution_steps."""

    image = Socket("IMAGE")
    upscale_method = Combo(choices=IMAGE_UPSCALE_METHODS)
    megapixels = Float(default=1.0, min=0.01, max=16.0, step=0.01)
    resolution_steps = Int(default=1, min=1, max=256, added_later=True)
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, upscale_method: str, megapixels: float,
                resolution_steps: int = 1) -> tuple:
        height, width = image.shape[1:3]
        scale = math.sqrt(megapixels * 1024 * 1024 / (width * height))
        new_w = max(1, round(width * scale / resolution_steps) * resolution_steps)
        new_h = max(1, round(height * scale / resolution_steps) * resolution_steps)
        out = resize(image.movedim(-1, 1), new_w, new_h, upscale_method).movedim(1, -1)
        return (out.clamp(0, 1),)


@register_node("ImageBlend", category=POST)
class ImageBlend(Node):
    """image1 mixed with a blend of image1 and image2 (normal, multiply, screen, overlay,
    soft light, difference) by blend_factor."""

    image1 = Socket("IMAGE")
    image2 = Socket("IMAGE")
    blend_factor = Float(default=0.5, min=0.0, max=1.0, step=0.01)
    blend_mode = Combo(choices=["normal", "multiply", "screen", "overlay", "soft_light", "difference"])
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image1: torch.Tensor, image2: torch.Tensor, blend_factor: float, blend_mode: str) -> tuple:
        from diffusion.image_filters import blend

        image2 = _resized_like(image2.to(image1), image1)
        return (blend(image1, image2, blend_factor, blend_mode),)


@register_node("ImageBlur", category=POST)
class ImageBlur(Node):
    """Gaussian blur."""

    image = Socket("IMAGE")
    blur_radius = Int(default=1, min=1, max=31, step=1)
    sigma = Float(default=1.0, min=0.1, max=10.0, step=0.1)
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, blur_radius: int, sigma: float) -> tuple:
        from diffusion.image_filters import blur

        return (blur(image, blur_radius, sigma),)


@register_node("ImageSharpen", category=POST)
class ImageSharpen(Node):
    """Unsharp-mask sharpening."""

    image = Socket("IMAGE")
    sharpen_radius = Int(default=1, min=1, max=31, step=1)
    sigma = Float(default=1.0, min=0.1, max=10.0, step=0.01)
    alpha = Float(default=1.0, min=0.0, max=5.0, step=0.01)
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, sharpen_radius: int, sigma: float, alpha: float) -> tuple:
        from diffusion.image_filters import sharpen

        return (sharpen(image, sharpen_radius, sigma, alpha),)


def composite_images(destination: torch.Tensor, source: torch.Tensor, x: int, y: int, resize_source: bool,
                     mask: Optional[torch.Tensor], multiplier: int = 1) -> torch.Tensor:
    """`source` pasted over `destination` (channels first) at (x, y) / multiplier."""
    from diffusion.image_filters import paste

    if resize_source and source.shape[-2:] != destination.shape[-2:]:
        source = torch.nn.functional.interpolate(source, size=destination.shape[-2:], mode="bilinear")
    return paste(destination, source, x // multiplier, y // multiplier, mask)


@register_node("ImageCompositeMasked", category="image")
class ImageCompositeMasked(Node):
    """Paste `source` onto `destination` at (x, y), through the mask where given."""

    destination = Socket("IMAGE")
    source = Socket("IMAGE")
    x = Int(default=0, min=0, max=MAX_RESOLUTION, step=1)
    y = Int(default=0, min=0, max=MAX_RESOLUTION, step=1)
    resize_source = Boolean(default=False)
    mask = Socket("MASK", optional=True)
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, destination: torch.Tensor, source: torch.Tensor, x: int, y: int, resize_source: bool,
                mask: Optional[torch.Tensor] = None) -> tuple:
        channels = destination.shape[-1]
        source = source[..., :channels] if source.shape[-1] >= channels else torch.cat(
            [source, torch.ones_like(source[..., :1]).expand(*source.shape[:-1], channels - source.shape[-1])], -1)
        out = composite_images(destination.movedim(-1, 1), source.movedim(-1, 1), x, y, resize_source, mask)
        return (out.movedim(1, -1),)


@register_node("SplitImageWithAlpha", category="mask/compositing", display_name="Split Image with Alpha")
class SplitImageWithAlpha(Node):
    """The colour channels and the transparency as a mask (1 = transparent, as LoadImage's)."""

    image = Socket("IMAGE")
    OUTPUTS = (Output("IMAGE", "IMAGE"), Output("MASK", "MASK"))

    def execute(self, ctx, image: torch.Tensor) -> tuple:
        alpha = image[..., 3] if image.shape[-1] > 3 else torch.ones_like(image[..., 0])
        return (image[..., :3].clone(), 1.0 - alpha)


@register_node("JoinImageWithAlpha", category="mask/compositing", display_name="Join Image with Alpha")
class JoinImageWithAlpha(Node):
    """An RGBA image whose transparency is the mask (1 = transparent), resized to the image."""

    image = Socket("IMAGE")
    alpha = Socket("MASK")
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, image: torch.Tensor, alpha: torch.Tensor) -> tuple:
        mask = alpha.reshape(-1, 1, *alpha.shape[-2:]).to(image)
        if mask.shape[-2:] != image.shape[1:3]:
            mask = torch.nn.functional.interpolate(mask, size=image.shape[1:3], mode="bilinear")
        if mask.shape[0] != image.shape[0]:
            mask = mask[torch.arange(image.shape[0]) % mask.shape[0]]
        return (torch.cat([image[..., :3], 1.0 - mask.squeeze(1).unsqueeze(-1)], dim=-1),)


def _plane_image(plane: torch.Tensor) -> torch.Tensor:
    return plane.unsqueeze(-1).expand(*plane.shape, 3).clone()


@register_node("ImageRGBToYUV", category="image/batch", display_name="Image RGB To YUV")
class ImageRGBToYUV(Node):
    """Y, U and V planes as three grey images."""

    image = Socket("IMAGE")
    OUTPUTS = (Output("IMAGE", "Y"), Output("IMAGE", "U"), Output("IMAGE", "V"))

    def execute(self, ctx, image: torch.Tensor) -> tuple:
        from diffusion.image_filters import rgb_to_yuv

        return tuple(_plane_image(plane) for plane in rgb_to_yuv(image))


@register_node("ImageYUVToRGB", category="image/batch", display_name="Image YUV To RGB")
class ImageYUVToRGB(Node):
    """An RGB image from Y, U and V planes (the first channel of each image)."""

    Y = Socket("IMAGE")
    U = Socket("IMAGE")
    V = Socket("IMAGE")
    OUTPUTS = IMAGE_OUT

    def execute(self, ctx, Y: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> tuple:
        from diffusion.image_filters import yuv_to_rgb

        return (yuv_to_rgb(Y[..., 0], U[..., 0], V[..., 0]).clamp(0, 1),)
