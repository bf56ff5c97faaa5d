"""Mask nodes (ComfyUI's mask category): convert, make, invert, crop, combine, feather, grow
and preview masks. Masks are [B,H,W] floats, 1 = selected."""
from __future__ import annotations

import torch

from .image_nodes import save_images
from .latent import MAX_RESOLUTION
from .registry import Node, register_node
from .spec import Boolean, Combo, Float, Int, NodeOutput, Output, Socket

MASK_OUT = (Output("MASK", "MASK"),)
CHANNELS = ["red", "green", "blue", "alpha"]


def _batch(mask: torch.Tensor) -> torch.Tensor:
    return mask.reshape(-1, mask.shape[-2], mask.shape[-1])


def _coordinate(default: int = 0) -> Int:
    return Int(default=default, min=0, max=MAX_RESOLUTION, step=1)


def mask_to_image(mask: torch.Tensor) -> torch.Tensor:
    return _batch(mask).unsqueeze(-1).expand(-1, -1, -1, 3).clone()


@register_node("MaskToImage", category="mask", display_name="Convert Mask to Image")
class MaskToImage(Node):
    """The mask as a grey image (white = selected)."""

    mask = Socket("MASK")
    OUTPUTS = (Output("IMAGE", "IMAGE"),)

    def execute(self, ctx, mask: torch.Tensor) -> tuple:
        return (mask_to_image(mask),)


@register_node("ImageToMask", category="mask", display_name="Convert Image to Mask")
class ImageToMask(Node):
    """One channel of an image as a mask."""

    image = Socket("IMAGE")
    channel = Combo(choices=CHANNELS)
    OUTPUTS = MASK_OUT

    def execute(self, ctx, image: torch.Tensor, channel: str) -> tuple:
        return (image[..., CHANNELS.index(channel)].clone(),)


@register_node("SolidMask", category="mask")
class SolidMask(Node):
    """A mask of one value everywhere."""

    value = Float(default=1.0, min=0.0, max=1.0, step=0.01)
    width = Int(default=512, min=1, max=MAX_RESOLUTION, step=1)
    height = Int(default=512, min=1, max=MAX_RESOLUTION, step=1)
    OUTPUTS = MASK_OUT

    def execute(self, ctx, value: float, width: int, height: int) -> tuple:
        return (torch.full((1, height, width), value, dtype=torch.float32),)


@register_node("InvertMask", category="mask")
class InvertMask(Node):
    """1 - mask."""

    mask = Socket("MASK")
    OUTPUTS = MASK_OUT

    def execute(self, ctx, mask: torch.Tensor) -> tuple:
        return (1.0 - mask,)


@register_node("CropMask", category="mask")
class CropMask(Node):
    """The width x height part of the mask whose top-left corner is (x, y)."""

    mask = Socket("MASK")
    x = _coordinate()
    y = _coordinate()
    width = Int(default=512, min=1, max=MAX_RESOLUTION, step=1)
    height = Int(default=512, min=1, max=MAX_RESOLUTION, step=1)
    OUTPUTS = MASK_OUT

    def execute(self, ctx, mask: torch.Tensor, x: int, y: int, width: int, height: int) -> tuple:
        return (_batch(mask)[:, y:y + height, x:x + width].clone(),)


def _logical(op):
    return lambda a, b: op(a.round().bool(), b.round().bool()).float()


MASK_OPERATIONS = {
    "multiply": lambda a, b: a * b,
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "and": _logical(torch.logical_and),
    "or": _logical(torch.logical_or),
    "xor": _logical(torch.logical_xor),
}


def composite_masks(destination: torch.Tensor, source: torch.Tensor, x: int, y: int, operation: str) -> torch.Tensor:
    """`operation(destination, source)` where the source, placed at (x, y), covers the
    destination; elsewhere the destination as it is; clamped to 0..1."""
    out = _batch(destination).clone()
    source = _batch(source).to(out)
    bottom, right = min(y + source.shape[-2], out.shape[-2]), min(x + source.shape[-1], out.shape[-1])
    if bottom > y and right > x:
        region = out[:, y:bottom, x:right]
        out[:, y:bottom, x:right] = MASK_OPERATIONS[operation](region, source[:, :bottom - y, :right - x])
    return out.clamp(0.0, 1.0)


@register_node("MaskComposite", category="mask")
class MaskComposite(Node):
    """Combine a source mask into the destination at (x, y): multiply, add, subtract, and,
    or, xor."""

    destination = Socket("MASK")
    source = Socket("MASK")
    x = _coordinate()
    y = _coordinate()
    operation = Combo(choices=list(MASK_OPERATIONS))
    OUTPUTS = MASK_OUT

    def execute(self, ctx, destination: torch.Tensor, source: torch.Tensor, x: int, y: int, operation: str) -> tuple:
        return (composite_masks(destination, source, x, y, operation),)


@register_node("FeatherMask", category="mask")
class FeatherMask(Node):
    """Fade the mask to zero over the given number of pixels at each edge."""

    mask = Socket("MASK")
    left = _coordinate()
    top = _coordinate()
    right = _coordinate()
    bottom = _coordinate()
    OUTPUTS = MASK_OUT

    def execute(self, ctx, mask: torch.Tensor, left: int, top: int, right: int, bottom: int) -> tuple:
        from diffusion.image_filters import feather

        return (feather(_batch(mask), left, top, right, bottom),)


@register_node("GrowMask", category="mask", display_name="Grow Mask")
class GrowMask(Node):
    """Grow (expand > 0) or shrink (expand < 0) the mask by that many pixels."""

    mask = Socket("MASK")
    expand = Int(default=0, min=-MAX_RESOLUTION, max=MAX_RESOLUTION, step=1)
    tapered_corners = Boolean(default=True)
    OUTPUTS = MASK_OUT

    def execute(self, ctx, mask: torch.Tensor, expand: int, tapered_corners: bool) -> tuple:
        from diffusion.image_filters import grow

        return (grow(_batch(mask), expand, tapered_corners),)


@register_node("MaskPreview", category="mask", display_name="Preview Mask", output_node=True)
class MaskPreview(Node):
    """Shows the mask as a grey image (kept in the temp folder)."""

    mask = Socket("MASK")
    OUTPUTS = ()

    def execute(self, ctx, mask: torch.Tensor) -> NodeOutput:
        records = save_images(mask_to_image(mask), ctx.folders.temp, "mask_preview", ctx.prompt, ctx.extra_pnginfo,
                              compress_level=1)
        return NodeOutput((), {"images": records})
